/**
 * The `multiengine` command line: start/stop/status of a cluster (its engines started here or
 * through a launcher), engine sets added to it, its task records, a profile's saved settings, and the controller
 * and engine processes by hand (for engines on other hosts).
 */
import { spawn } from 'node:child_process';
import { parseArgs } from 'node:util';
import { Cluster } from '../cluster/cluster.js';
import type { KernelKind } from '../protocol/messages.js';
import { parseArgs as parseControllerArgs, USAGE as CONTROLLER_USAGE } from '../controller/options.js';
import { nodeEntry } from '../util/entry.js';
import { waitForExit } from '../util/processes.js';
import { DEFAULT_LANGUAGE, engineLanguage } from '../kernels/index.js';
import { CONTROLLER_FLAGS, engineCount, ENGINE_SET_FLAGS, joinDashValues, language } from './clusterFlags.js';
import { engines } from './enginesCommand.js';
import { profile } from './profileCommand.js';
import { connectTo, PROFILE_FLAGS, settingsFor } from './profileOptions.js';
import { tasks } from './tasksCommand.js';
import { formatBalancing, formatEngineSets, formatEngineTable, formatListen, formatResultStore, formatTaskDb } from './statusReport.js';
import { COMMAND_USAGE, USAGE, UsageError, wantsHelp } from './usage.js';

export { UsageError };

export async function run(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    // Help first: `start --help` must start nothing.
    if (command !== undefined && COMMAND_USAGE[command] && wantsHelp(rest)) {
      console.log(COMMAND_USAGE[command]);
      return 0;
    }
    switch (command) {
      case 'start':
        return await start(rest);
      case 'stop':
        return await stop(rest);
      case 'status':
        return await status(rest);
      case 'engines':
        return await engines(rest);
      case 'tasks':
        return await tasks(rest);
      case 'profile':
        return await profile(rest);
      case 'controller':
        return await controller(rest);
      case 'engine':
        return await engine(rest);
      case 'console':
        return await (await import('../console/main.js')).runConsole(rest);
      case 'app':
        // The app parses its own options (and answers --help) in main/webMain.
        return await passThrough(nodeEntry('main/webMain'), rest);
      case 'help':
        if (rest.length > 1 || (rest.length === 1 && !COMMAND_USAGE[rest[0]] && !['console', 'controller', 'app'].includes(rest[0]))) {
          throw new UsageError(`no help for ${JSON.stringify(rest.join(' '))}: not a command`);
        }
        return rest.length ? await run([rest[0], '--help']) : (console.log(USAGE), 0);
      case '-h':
      case '--help':
        console.log(USAGE);
        return 0;
      case undefined:
        console.error(USAGE);
        return 2;
      default:
        throw new UsageError(`unknown command ${JSON.stringify(command)}`);
    }
  } catch (e) {
    if (e instanceof UsageError || (e as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      const which = (e instanceof UsageError ? e.command : undefined) ?? command;
      const usage = (which && COMMAND_USAGE[which]) ?? USAGE;
      console.error(`multiengine${which && COMMAND_USAGE[which] ? ` ${which}` : ''}: ${(e as Error).message}\n\n${usage}`);
      return 2;
    }
    console.error(`multiengine: ${(e as Error).message}`);
    return 1;
  }
}

/** `multiengine controller`: its options are checked here, so a typo is an error rather than the controller's warning. */
async function controller(args: string[]): Promise<number> {
  let parsed: ReturnType<typeof parseControllerArgs>;
  try {
    parsed = parseControllerArgs(args);
    if (parsed.unknown.length) throw new UsageError(`unknown option ${JSON.stringify(parsed.unknown[0])}`);
  } catch (e) {
    // Its options' own errors (a missing or bad value) are usage errors too.
    console.error(`multiengine controller: ${(e as Error).message}\n\n${CONTROLLER_USAGE}`);
    return 2;
  }
  if (parsed.help) {
    console.log(CONTROLLER_USAGE);
    return 0;
  }
  return passThrough(nodeEntry('core/controller/main'), args);
}

function kernelOf(v: string | undefined): KernelKind {
  return v === undefined ? DEFAULT_LANGUAGE : language(v, '--engine');
}

async function start(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args: joinDashValues(args),
    options: {
      ...PROFILE_FLAGS,
      ...ENGINE_SET_FLAGS,
      ...CONTROLLER_FLAGS,
      daemon: { type: 'boolean', default: false },
      verbose: { type: 'boolean', default: false },
      restart: { type: 'string' },
    },
  });
  if (values.restart !== undefined && values.restart !== 'always' && values.restart !== 'never') {
    throw new UsageError(`--restart must be always or never, got ${JSON.stringify(values.restart)}`);
  }
  const { settings } = settingsFor(values);
  const n = engineCount(settings);
  const engine = settings.engine ?? DEFAULT_LANGUAGE;
  const launcher = settings.launcher ?? 'local';
  const cluster = await Cluster.start({
    n,
    engine,
    launcher: settings.launcher,
    launcherOptions: settings.launcherOptions,
    engineTimeoutMs: settings.engineTimeoutMs,
    profile: values.profile,
    dir: values.dir,
    ip: settings.ip,
    location: settings.location,
    scheme: settings.scheme,
    hwm: settings.hwm,
    db: settings.db,
    python: settings.python,
    detached: values.daemon,
    verbose: values.verbose,
    restart: values.restart as 'always' | 'never' | undefined,
  });
  const through = launcher === 'local' ? '' : ` through the ${launcher} launcher`;
  console.log(`cluster "${values.profile}" up: controller pid ${cluster.controllerPid}, ${n} ${engine} engine${n === 1 ? '' : 's'}${through}`);
  console.log(`client connection file: ${cluster.connectionFile}`);
  if (values.daemon) {
    console.log(`stop it with: multiengine stop --profile ${values.profile}`);
    process.exit(0);
  }
  console.log('press Ctrl-C to stop');
  // Until Ctrl-C (or SIGTERM), or until a client shuts the controller down (rc.shutdown(hub=True), `multiengine stop`).
  const why = await new Promise<string>((resolve) => {
    const onSignal = () => resolve('signal');
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    cluster.onDidShutDown(() => resolve('shutdown'));
  });
  console.log(why === 'shutdown' ? 'the controller was shut down by a client; stopping…' : 'stopping…');
  await cluster.stop();
  return 0;
}

async function stop(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: PROFILE_FLAGS });
  const rc = await connectTo(values);
  const pid = rc.controllerPid;
  await rc.shutdownController();
  rc.close();
  if (pid && !(await waitForExit(pid, 10_000))) {
    console.error(`controller pid ${pid} is still running after 10 s`);
    return 1;
  }
  console.log(`cluster "${values.profile}" stopped`);
  return 0;
}

async function status(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { ...PROFILE_FLAGS, json: { type: 'boolean', default: false } } });
  const rc = await connectTo(values);
  try {
    const s = await rc.status();
    if (values.json) {
      // For scripts: the controller's status as the client reads it, with the profile and controller pid.
      console.log(JSON.stringify({ profile: values.profile, controller_pid: rc.controllerPid, ...s }, null, 2));
      return 0;
    }
    const listen = s.listen ? `, ${formatListen(s.listen)}` : '';
    console.log(`cluster "${values.profile}": controller pid ${rc.controllerPid}, ${s.engines.length} engine${s.engines.length === 1 ? '' : 's'}${listen}`);
    const balancing = formatBalancing(s);
    if (balancing) console.log(balancing);
    if (s.engines.length) console.log(formatEngineTable(s.engines));
    if (s.engine_sets?.length) console.log(`\n${formatEngineSets(s.engine_sets)}`);
    if (s.result_store) console.log(formatResultStore(s.result_store));
    if (s.task_db) console.log(formatTaskDb(s.task_db));
  } finally {
    rc.close();
  }
  return 0;
}

async function engine(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: { file: { type: 'string' }, engine: { type: 'string' }, python: { type: 'string' }, id: { type: 'string' }, 'reconnect-ms': { type: 'string' }, help: PROFILE_FLAGS.help },
  });
  if (!values.file) throw new UsageError('engine needs --file <engine connection file>', 'engine');
  const passArgs = ['--file', values.file, ...(values.id ? ['--id', values.id] : []), ...(values['reconnect-ms'] ? ['--reconnect-ms', values['reconnect-ms']] : [])];
  const launch = engineLanguage(kernelOf(values.engine)).local;
  return passThrough(launch.command(launch.interpreter?.(values.python, undefined), passArgs), []);
}

/** Runs a child in the foreground with our stdio, passing signals on, and returns its exit code. */
function passThrough(entry: { command: string; args: string[] }, extra: string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(entry.command, [...entry.args, ...extra], { stdio: 'inherit' });
    const forward = (sig: NodeJS.Signals) => () => child.kill(sig);
    const onInt = forward('SIGINT');
    const onTerm = forward('SIGTERM');
    process.on('SIGINT', onInt);
    process.on('SIGTERM', onTerm);
    child.once('error', (e) => reject(new Error(`cannot run ${entry.command}: ${e.message}`)));
    child.once('exit', (code, signal) => {
      process.off('SIGINT', onInt);
      process.off('SIGTERM', onTerm);
      resolve(code ?? (signal ? 1 : 0));
    });
  });
}
