/**
 * `multiengine engines`: adds an engine set to the running cluster of a profile (as `ipcluster
 * engines` does), stops one, or prints what a set's launcher printed. It returns once the set is up:
 * the controller owns the set from then on, and stops it with the cluster.
 */
import { parseArgs } from 'node:util';
import { engineCount, ENGINE_SET_FLAGS, joinDashValues } from './clusterFlags.js';
import { connectTo, PROFILE_FLAGS, settingsFor } from './profileOptions.js';
import { idRanges } from './statusReport.js';
import { UsageError } from './usage.js';

const SET_ACTIONS = ['stop', 'output'] as const;

export async function engines(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args: joinDashValues(args),
    options: { ...PROFILE_FLAGS, ...ENGINE_SET_FLAGS, stop: { type: 'string' }, output: { type: 'string' } },
  });
  const actions = SET_ACTIONS.filter((a) => values[a] !== undefined);
  if (actions.length) {
    const others = Object.keys(values).filter((k) => k in ENGINE_SET_FLAGS);
    if (actions.length > 1 || others.length) {
      const extra = actions.length > 1 ? `--${actions[1]}` : others[0].length === 1 ? `-${others[0]}` : `--${others[0]}`;
      throw new UsageError(`--${actions[0]} takes only a set id (and --profile, --dir), not ${extra}`, 'engines');
    }
    return setAction(actions[0], values[actions[0]] as string, values);
  }
  const { settings } = settingsFor(values);
  const n = engineCount(settings);
  if (n < 1) throw new UsageError(`-n must be at least 1 to add engines, got ${n}`, 'engines');
  const rc = await connectTo(values);
  try {
    const { ids, set } = await rc.addEngineSet(n, {
      engine: settings.engine,
      python: settings.python,
      launcher: settings.launcher,
      launcherOptions: settings.launcherOptions,
      timeoutMs: settings.engineTimeoutMs,
    });
    const info = (await rc.engineSets()).find((s) => s.id === set);
    const hosts = info?.hosts.length ? ` on ${info.hosts.join(', ')}` : '';
    console.log(`${set}: ${ids.length} ${settings.engine ?? 'node'} engine${ids.length === 1 ? '' : 's'} through the ${settings.launcher ?? 'local'} launcher, ids ${idRanges(ids)}${hosts}`);
    console.log(`stop it with: multiengine engines --stop ${set} --profile ${values.profile}`);
  } finally {
    rc.close();
  }
  return 0;
}

async function setAction(action: (typeof SET_ACTIONS)[number], set: string, values: { profile: string; dir?: string }): Promise<number> {
  if (set.trim() === '') throw new UsageError(`--${action} needs the id of an engine set (as set-2; \`multiengine status\` lists them)`, 'engines');
  const rc = await connectTo(values);
  try {
    if (action === 'stop') {
      await rc.stopEngineSet(set);
      console.log(`${set} stopped`);
    } else {
      process.stdout.write(await rc.engineSetOutput(set));
    }
  } finally {
    rc.close();
  }
  return 0;
}
