/**
 * `multiengine console`: connects to a running cluster (the default profile's, `--profile P`'s
 * or the one of `--file <client.json>`), or with `-n N` starts a local cluster that it stops
 * on exit; then preloads the client and runs the prompt.
 */
import fs from 'node:fs';
import { parseArgs } from 'node:util';
import { Client } from '../client/client.js';
import { ConnectionError } from '../client/errors.js';
import { Cluster } from '../cluster/cluster.js';
import { ConnectionFileError, connectionFilePath, readConnectionFile } from '../connection/connectionFile.js';
import type { KernelKind } from '../protocol/messages.js';
import { isAlive } from '../util/processes.js';
import { CONTROL_ENV, type ControlTargets } from './control.js';
import { connectControl, type ControlChannel } from './controlClient.js';
import { watchController } from './controllerGone.js';
import { installGlobals } from './evaluate.js';
import { History, historyFile } from './history.js';
import { colorEnabled, formatBanner, makeStyle } from './render.js';
import { Console } from './repl.js';
import { DEFAULT_LANGUAGE, isLanguageName, languageNames } from '../kernels/index.js';


export const CONSOLE_USAGE = `usage: multiengine console [--profile P | --file <client.json>] [--dir D]
       multiengine console -n N [--engine node|python] [--python PATH] [--profile P] [--dir D]

  Connects to the running cluster of the profile (default: default), or of a client
  connection file; with -n it starts a cluster of N engines first and stops it on exit.`;

class ConsoleUsageError extends Error {}

interface Args {
  profile: string;
  profileGiven: boolean;
  dir?: string;
  file?: string;
  n?: number;
  engine: KernelKind;
  python?: string;
}

function parse(argv: string[]): Args | 'help' {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      profile: { type: 'string' },
      dir: { type: 'string' },
      file: { type: 'string', short: 'f' },
      n: { type: 'string', short: 'n' },
      engine: { type: 'string' },
      python: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) return 'help';
  if (positionals.length) throw new ConsoleUsageError(`unexpected argument ${JSON.stringify(positionals[0])}`);
  const engine = values.engine ?? DEFAULT_LANGUAGE;
  if (!isLanguageName(engine)) throw new ConsoleUsageError(`--engine must be one of ${languageNames.join(', ')}; got ${JSON.stringify(engine)}`);
  let n: number | undefined;
  if (values.n !== undefined) {
    n = Number(values.n);
    if (!Number.isInteger(n) || n < 0) throw new ConsoleUsageError(`-n must be a whole number of engines, got ${JSON.stringify(values.n)}`);
    if (values.file) throw new ConsoleUsageError('-n starts a new cluster, --file connects to a running one: give one of them');
  } else if (values.engine !== undefined || values.python !== undefined) {
    throw new ConsoleUsageError(`${values.engine !== undefined ? '--engine' : '--python'} goes with -n N (the console then starts the engines)`);
  }
  return { profile: values.profile ?? 'default', profileGiven: values.profile !== undefined, dir: values.dir, file: values.file, n, engine, python: values.python };
}

/** How to get a cluster, for when there is none. */
function noClusterHelp(profile: string, why: string): string {
  const p = profile === 'default' ? '' : ` --profile ${profile}`;
  return [
    `multiengine console: no cluster is running for profile "${profile}" (${why}).`,
    `Start one first, in another terminal:   multiengine start -n 4${p}`,
    `or in the background:                   multiengine start -n 4${p} --daemon`,
    `or let the console start its own:       multiengine console -n 4${p}`,
  ].join('\n');
}

/** A live controller already owns the profile's connection files: starting another would take them over. */
function runningController(profile: string, dir: string | undefined): number | undefined {
  const file = connectionFilePath('client', profile, dir);
  if (!fs.existsSync(file)) return undefined;
  try {
    const pid = readConnectionFile(file, { allowInsecure: true }).controller_pid;
    return pid > 0 && isAlive(pid) ? pid : undefined;
  } catch {
    return undefined;
  }
}

export async function runConsole(argv: string[]): Promise<number> {
  let args: Args;
  try {
    const a = parse(argv);
    if (a === 'help') {
      console.log(CONSOLE_USAGE);
      return 0;
    }
    args = a;
  } catch (e) {
    if (e instanceof ConsoleUsageError || (e as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      console.error(`multiengine console: ${(e as Error).message}\n\n${CONSOLE_USAGE}`);
      return 2;
    }
    throw e;
  }

  let cluster: Cluster | undefined;
  let rc: Client;
  if (args.n !== undefined) {
    const pid = runningController(args.profile, args.dir);
    if (pid !== undefined) {
      console.error(
        `multiengine console: a cluster is already running for profile "${args.profile}" (controller pid ${pid}).\n` +
          `Connect to it with:  multiengine console${args.profileGiven ? ` --profile ${args.profile}` : ''}\n` +
          `or start another under its own profile:  multiengine console -n ${args.n} --profile <name>`,
      );
      return 1;
    }
    process.stderr.write(`starting a cluster of ${args.n} ${args.engine} engine${args.n === 1 ? '' : 's'}…\n`);
    cluster = await Cluster.start({ n: args.n, engine: args.engine, profile: args.profile, dir: args.dir, python: args.python });
    try {
      rc = await cluster.connect();
    } catch (e) {
      await cluster.stop();
      throw e;
    }
  } else {
    const file = args.file ?? connectionFilePath('client', args.profile, args.dir);
    try {
      rc = await Client.connect({ file });
    } catch (e) {
      if (e instanceof ConnectionFileError && !fs.existsSync(file)) {
        if (args.file) {
          console.error(`multiengine console: no connection file at ${file}`);
          return 1;
        }
        console.error(noClusterHelp(args.profile, `no connection file at ${file}`));
        return 1;
      }
      if (e instanceof ConnectionError) {
        console.error(noClusterHelp(args.profile, `its controller does not answer: ${e.message}`));
        return 1;
      }
      throw e;
    }
  }

  const profile = args.profileGiven || args.n !== undefined ? args.profile : rc.connectionInfo.profile || args.profile;
  const style = makeStyle(colorEnabled(process.stdout));
  const dview = rc.view();
  const lview = rc.loadBalancedView();
  const lib = (await import('../index.js')) as Record<string, unknown>;
  installGlobals({ ...lib, rc, dview, lview, ...(cluster ? { cluster } : {}) });

  let history: History | undefined;
  try {
    history = new History(historyFile(profile, args.dir));
  } catch {
    history = undefined;
  }

  // In the app, its side channel sets the %px targets; connected before the prompt, so the first one shows them.
  const live: { con?: Console } = {};
  let control: ControlChannel | undefined;
  const controlPath = process.env[CONTROL_ENV];
  if (controlPath) {
    control = await connectControl(controlPath, {
      targets: (t: ControlTargets) => (live.con ? live.con.setTargets(t) : (dview.targets = t)),
      warn: (line) => (live.con ? live.con.warn(line) : process.stderr.write(line + '\n')),
    });
  }

  const con = new Console({ rc, view: dview, input: process.stdin, output: process.stdout, style, history, showAllTargets: control !== undefined });
  live.con = con;
  let stopping: Promise<void> | undefined;
  const shutdown = (): Promise<void> =>
    (stopping ??= (async () => {
      control?.close();
      rc.close();
      if (cluster) await cluster.stop();
    })());
  const onSignal = () => {
    con.close();
    void shutdown().then(() => process.exit(1));
  };
  process.once('SIGTERM', onSignal);
  process.once('SIGHUP', onSignal);
  // Shut down by another client, or lost: say so; the console ends when the client is closed for good.
  let gone: number | undefined;
  const watching = watchController(rc, profile, {
    note: (line) => con.warn(line),
    end: (line, code) => {
      gone = code;
      // In the app, which says why a cluster was shut down and stops its console itself, an
      // exit of ours would read as a crash ("console exited"); end only if it has not, 5 s on.
      if (control && code === 0) setTimeout(() => con.end(line), 5000).unref();
      else con.end(line);
    },
  });

  con.start(formatBanner({ profile, controllerPid: rc.controllerPid, engines: rc.engines, startedCluster: cluster !== undefined }, style));
  await con.finished;
  watching.dispose();
  process.off('SIGTERM', onSignal);
  process.off('SIGHUP', onSignal);
  // A cluster whose controller is gone: stop() only makes sure none of its processes is left.
  if (cluster && gone === undefined) process.stderr.write('stopping the cluster…\n');
  await shutdown();
  process.stdin.pause();
  // Anything a line left running (timers, sockets) must not keep the console alive.
  setTimeout(() => process.exit(process.exitCode ?? 0), 200).unref();
  return gone ?? 0;
}
