/**
 * Cluster: starts and supervises a local controller process, which in turn launches
 * and supervises the engines. The Cluster talks to its controller as an ordinary
 * client, so everything it does can also be done from `multiengine` on the command line.
 *
 * Supervision: when the controller process dies (not through stop()), the Cluster starts a
 * new one on the same port with the same key and connection files (--reuse-key). Engines
 * re-register with their ids and namespaces, clients reconnect on their own. At most
 * `maxControllerRestarts` per minute; then it gives up and says why. A controller that exits 0
 * was stopped on purpose (controller_shutdown_request, `multiengine stop`, a signal to it): it is
 * not restarted, and onDidShutDown tells the owner (`multiengine start` exits then).
 */
import os from 'node:os';
import readline from 'node:readline';
import { inspect } from 'node:util';
import { Client, type EngineSetOptions, type StatusReport } from '../client/client.js';
import { Emitter, type Event } from '../events/emitter.js';
import type { EngineInfo, EngineSetInfo, KernelKind, Scheme } from '../protocol/messages.js';
import { ensureGone } from '../util/processes.js';
import { NodeSpawner, type ProcessSpawner, type SpawnedProcess } from '../launch/spawner.js';

export interface ClusterOptions {
  /** Number of engines to start; defaults to the number of CPU cores. 0 starts none. */
  n?: number;
  /** Engine runtime for the first engines. */
  engine?: KernelKind;
  /** How the first engines are started: 'local' (default), 'mpi', 'ssh', 'slurm', 'batch' or a launcher module's path. */
  launcher?: string;
  /** The launcher's options (docs/launchers.md). */
  launcherOptions?: EngineSetOptions['launcherOptions'];
  /** How long the first engine set may take to register (a batch job may pend first). */
  engineTimeoutMs?: number;
  profile?: string;
  /** Overrides $MULTIENGINE_DIR (default ~/.multiengine). */
  dir?: string;
  /** The interface the controller listens on (default 127.0.0.1; engines on other hosts need one they can reach). */
  ip?: string;
  /** The address written into connection files, when engines and clients must reach the controller by another name. */
  location?: string;
  port?: number;
  heartbeatMs?: number;
  deadAfterMs?: number;
  python?: string;
  maxMessageBytes?: number;
  /** Keep the controller running when this process exits (multiengine start --daemon). */
  detached?: boolean;
  /** Pass the controller's and engines' logs through to this process's stderr. */
  verbose?: boolean;
  /** How long to wait for the controller and engines to come up. */
  timeoutMs?: number;
  /** 'always': the controller replaces a local engine that dies, with the same id (default 'never'). */
  restart?: 'always' | 'never';
  /** Automatic engine restarts allowed per engine within restartWindowMs (default 5 per 60 s); then the controller gives up on it. */
  maxRestarts?: number;
  restartWindowMs?: number;
  /** Restart the controller when its process dies (default true; never for detached clusters). */
  restartController?: boolean;
  /** Controller restarts allowed per minute before the Cluster gives up (default 5). */
  maxControllerRestarts?: number;
  /** How long engines and clients that lost the controller try to come back before giving up (default 10 s). */
  reconnectMs?: number;
  /** Output kept per request and engine, in characters (default 16 MiB); the rest is dropped after a marker. */
  maxOutputBytes?: number;
  /** Caps of the controller's store of results whose client went away (defaults 128 MiB, 4096 results). */
  resultStoreBytes?: number;
  resultStoreEntries?: number;
  /** How the controller's scheduler picks an engine for a load-balanced task (default 'leastload'). */
  scheme?: Scheme;
  /** Load-balanced tasks the scheduler puts on one engine at most (0: no limit; default: the controller's). */
  hwm?: number;
  /** Where the controller keeps task records: 'sqlite' (default, <profile>/tasks.db), 'memory' or 'none'; and its caps. */
  db?: 'sqlite' | 'memory' | 'none';
  dbMaxRows?: number;
  dbMaxBytes?: number;
  /** How the controller process is started, the first time and on every restart (default: a NodeSpawner). */
  spawner?: ProcessSpawner;
}

/** What happened to the Cluster's controller process. */
export interface ControllerEvent {
  event: 'exited' | 'restarted' | 'gave-up';
  /** The controller's pid: the one that exited, or the new one. */
  pid: number;
  /** How it exited, or why the Cluster gave up. */
  reason: string;
  /** exited: it shut down on request (exit 0, onDidShutDown follows), not a crash. */
  requested?: boolean;
}

interface ReadyLine {
  event: 'ready';
  port: number;
  client_file: string;
  engine_file: string;
  pid: number;
}

export class ClusterError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ClusterError';
  }
}

/** How the controller is run: the same spawner and command line each time it is (re)started. */
interface ControllerCommand {
  spawner: ProcessSpawner;
  args: string[];
  opts: ClusterOptions;
  timeoutMs: number;
}

/** Controller restarts are counted over this window. */
const CONTROLLER_RESTART_WINDOW_MS = 60_000;

export class Cluster {
  /** Every engine pid this cluster has seen, so stop() can make sure none is left. */
  private readonly enginePids = new Set<number>();

  /** A short form for REPLs and console.log, instead of child processes and clients. */
  [inspect.custom](_depth: number, opts: { stylize(text: string, style: string): string }): string {
    return `${opts.stylize('Cluster', 'special')} { profile: ${opts.stylize(`'${this.profile}'`, 'string')}, controllerPid: ${this.controllerPid}, ids: ${inspect(this.ids)} }`;
  }
  private stopped = false;
  /** The controller shut itself down on request: stop() has nobody to ask. */
  private shutDown = false;
  private readonly controllerEvents = new Emitter<ControllerEvent>();
  private readonly shutdownEvents = new Emitter<ControllerEvent>();
  private restartTimes: number[] = [];
  private restarting: Promise<void> | null = null;
  /** How many times the controller process was restarted. */
  controllerRestarts = 0;

  private constructor(
    private controller: SpawnedProcess,
    private ready: ReadyLine,
    private readonly control: Client,
    readonly profile: string,
    private readonly cmd: ControllerCommand,
  ) {
    this.trackPids(control.engines);
    // The changed engine only: every engine on each of 1,000 registrations was O(n²) in a storm.
    control.onDidChangeEngines((c) => this.trackPids(c.engine ? [c.engine] : control.engines));
    this.supervise(controller);
  }

  /** Starts a controller and `n` engines; resolves once all of them are registered. */
  static async start(opts: ClusterOptions = {}): Promise<Cluster> {
    const n = opts.n ?? os.availableParallelism();
    if (!Number.isInteger(n) || n < 0) throw new ClusterError(`n must be a whole number of engines, got ${String(opts.n)}`);
    const profile = opts.profile ?? 'default';
    const args = ['--profile', profile];
    if (opts.dir) args.push('--dir', opts.dir);
    if (opts.ip) args.push('--ip', opts.ip);
    if (opts.location) args.push('--location', opts.location);
    if (opts.port !== undefined) args.push('--port', String(opts.port));
    if (opts.heartbeatMs) args.push('--heartbeat-ms', String(opts.heartbeatMs));
    if (opts.deadAfterMs) args.push('--dead-after-ms', String(opts.deadAfterMs));
    if (opts.python) args.push('--python', opts.python);
    if (opts.maxMessageBytes) args.push('--max-message-bytes', String(opts.maxMessageBytes));
    if (opts.restart) args.push('--restart', opts.restart);
    if (opts.maxRestarts !== undefined) args.push('--max-restarts', String(opts.maxRestarts));
    if (opts.restartWindowMs !== undefined) args.push('--restart-window-ms', String(opts.restartWindowMs));
    if (opts.reconnectMs !== undefined) args.push('--reconnect-ms', String(opts.reconnectMs));
    if (opts.maxOutputBytes !== undefined) args.push('--max-output-bytes', String(opts.maxOutputBytes));
    if (opts.resultStoreBytes !== undefined) args.push('--result-store-bytes', String(opts.resultStoreBytes));
    if (opts.resultStoreEntries !== undefined) args.push('--result-store-entries', String(opts.resultStoreEntries));
    if (opts.scheme !== undefined) args.push('--scheme', opts.scheme);
    if (opts.hwm !== undefined) args.push('--hwm', String(opts.hwm));
    if (opts.db !== undefined) args.push('--db', opts.db);
    if (opts.dbMaxRows !== undefined) args.push('--db-max-rows', String(opts.dbMaxRows));
    if (opts.dbMaxBytes !== undefined) args.push('--db-max-bytes', String(opts.dbMaxBytes));
    if (!opts.detached) args.push('--exit-with-parent');

    const timeoutMs = opts.timeoutMs ?? 30_000;
    const cmd: ControllerCommand = { spawner: opts.spawner ?? new NodeSpawner(), args, opts, timeoutMs };
    const { child, ready } = await spawnController(cmd, args);
    if (opts.detached) child.detach();
    const control = await Client.connect({ file: ready.client_file, timeoutMs });
    const cluster = new Cluster(child, ready, control, profile, cmd);
    if (n > 0) {
      try {
        await cluster.addEngines(n, { engine: opts.engine, launcher: opts.launcher, launcherOptions: opts.launcherOptions, timeoutMs: opts.engineTimeoutMs });
      } catch (e) {
        await cluster.stop();
        throw e;
      }
    }
    return cluster;
  }

  /** The client connection file: pass it to `Client.connect(file)`. */
  get connectionFile(): string {
    return this.ready.client_file;
  }

  get engineConnectionFile(): string {
    return this.ready.engine_file;
  }

  /** The pid of the controller process (a new one after a controller restart). */
  get controllerPid(): number {
    return this.ready.pid;
  }

  /** Called when the controller process exits unexpectedly, is restarted, or the Cluster gives up restarting it. */
  readonly onDidChangeController: Event<ControllerEvent> = this.controllerEvents.event;

  /** Fired once when the controller exits 0, stopped on purpose by a client or a signal (it is not restarted); call stop() to finish. */
  readonly onDidShutDown: Event<ControllerEvent> = this.shutdownEvents.event;

  get ids(): number[] {
    return this.control.ids;
  }

  /** A new client of this cluster; close it when done (stop() closes the cluster's own). */
  connect(): Promise<Client> {
    return Client.connect({ file: this.ready.client_file });
  }

  /** Starts a set of `n` engines (locally, or through a launcher); resolves with their ids once all registered. */
  async addEngines(n: number, opts: EngineSetOptions = {}): Promise<number[]> {
    if (!Number.isInteger(n) || n < 1) throw new ClusterError(`addEngines needs a whole number ≥ 1, got ${String(n)}`);
    const ids = await this.control.addEngines(n, opts);
    this.trackPids(this.control.engines);
    return ids;
  }

  /** Every engine set: id, launcher, job id, engines, hosts, state and the reason it pends or ended. */
  engineSets(): Promise<EngineSetInfo[]> {
    return this.control.engineSets();
  }

  /** Stops a set's engines and its launcher (cancels its batch job). */
  stopEngineSet(id: string): Promise<void> {
    return this.control.stopEngineSet(id);
  }

  /** What a set's launcher printed (mpiexec, srun, ssh, the job's output), to see why a start failed. */
  output(id: string): Promise<string> {
    return this.control.engineSetOutput(id);
  }

  stopEngine(id: number): Promise<void> {
    return this.control.stopEngine(id);
  }

  async restartEngine(id: number): Promise<void> {
    await this.control.restartEngine(id);
    this.trackPids(this.control.engines);
  }

  async engines(): Promise<EngineInfo[]> {
    return (await this.status()).engines;
  }

  /** The controller's status: engines, engine sets, result store, and the scheduler's scheme, hwm and unassigned tasks. */
  status(): Promise<StatusReport> {
    return this.control.status();
  }

  /** Stops the controller and every engine, and waits until none of their processes is left. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.restarting) await this.restarting.catch(() => {});
    if (this.shutDown) {
      // The controller stopped its engines and removed its files; make sure no process is left.
      this.control.close();
      await Promise.all([...this.enginePids].map((p) => ensureGone(p, 2000)));
      this.controller.stdin?.destroy();
      return;
    }
    await this.control.waitConnected(3000);
    try {
      await this.control.refreshEngines();
      this.trackPids(this.control.engines);
    } catch {
      /* controller may already be gone */
    }
    try {
      await this.control.shutdownController(5000);
    } catch {
      /* fall through to signals */
    }
    this.control.close();
    await ensureGone(this.ready.pid, 5000);
    await Promise.all([...this.enginePids].map((p) => ensureGone(p, 2000)));
    this.controller.stdin?.destroy();
  }

  /** Every pid the cluster started: controller first, then engines. */
  get pids(): number[] {
    return [this.ready.pid, ...this.enginePids];
  }

  /** Pids of engines on this machine only: a pid of another host means nothing (or someone else) here. */
  private trackPids(engines: readonly EngineInfo[]): void {
    const here = os.hostname();
    for (const e of engines) if (e.pid > 0 && e.host === here) this.enginePids.add(e.pid);
  }

  private emitController(e: ControllerEvent): void {
    this.controllerEvents.fire(e);
  }

  /** Restarts the controller when `child` exits while the cluster is not being stopped, unless it was stopped on purpose (exit 0). */
  private supervise(child: SpawnedProcess): void {
    if (this.cmd.opts.detached) return;
    child.onDidExit(({ reason: how, code }) => {
      if (this.stopped || child !== this.controller) return;
      const pid = this.ready.pid;
      if (this.cmd.opts.verbose || process.env.MULTIENGINE_DEBUG) process.stderr.write(`multiengine cluster: controller pid ${pid} ${how}\n`);
      if (code === 0) {
        this.shutDown = true;
        const e: ControllerEvent = { event: 'exited', pid, reason: 'it shut down on request', requested: true };
        this.emitController(e);
        this.shutdownEvents.fire(e);
        return;
      }
      if (this.cmd.opts.restartController === false) return;
      this.emitController({ event: 'exited', pid, reason: how });
      this.restarting = this.restartController(how).finally(() => {
        this.restarting = null;
      });
    });
  }

  private async restartController(how: string): Promise<void> {
    const limit = this.cmd.opts.maxControllerRestarts ?? 5;
    for (;;) {
      if (this.stopped) return;
      const now = Date.now();
      this.restartTimes = this.restartTimes.filter((t) => now - t < CONTROLLER_RESTART_WINDOW_MS);
      if (this.restartTimes.length >= limit) {
        const reason = `the controller ${how}; not restarted: it was restarted ${this.restartTimes.length} times within a minute (the limit)`;
        process.stderr.write(`multiengine cluster: ${reason}\n`);
        this.emitController({ event: 'gave-up', pid: this.ready.pid, reason });
        return;
      }
      this.restartTimes.push(now);
      // Same port, same key, same connection files: everybody comes back.
      const args = withPort(this.cmd.args, this.ready.port);
      args.push('--reuse-key');
      try {
        const { child, ready } = await spawnController(this.cmd, args);
        if (this.stopped) {
          child.signal('SIGTERM');
          return;
        }
        this.controller = child;
        this.ready = ready;
        this.controllerRestarts++;
        this.supervise(child);
        this.emitController({ event: 'restarted', pid: ready.pid, reason: `the controller ${how}` });
        return;
      } catch (e) {
        how = `could not be restarted (${(e as Error).message.split('\n')[0]})`;
        await new Promise((r) => setTimeout(r, 500));
      }
    }
  }
}

/** `args` with `--port` set to `port`. */
function withPort(args: readonly string[], port: number): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--port') {
      i++;
      continue;
    }
    if (args[i] === '--reuse-key') continue;
    out.push(args[i]);
  }
  out.push('--port', String(port));
  return out;
}

/**
 * V8's young generation grows to 16 MB per semi-space under a high allocation rate and keeps
 * it: with 1,000 engines' beats that was ~30 MB of RSS (30 KB an engine) for garbage. 4 MB
 * keeps the controller's throughput (docs/benchmarks.md, "1,000 engines").
 * `--liftoff-only`: the task database's SQLite (WebAssembly, in a worker at the lowest priority) stays on
 * V8's baseline compiler. Tiering it up cost ~100-200 ms of CPU on V8's helper threads, at
 * normal priority, during the first tens of thousands of requests after a start: CPU taken
 * from the engines and clients on a busy machine, for inserts that then ran no faster
 * (docs/benchmarks.md, "Task database: the direct path").
 */
const CONTROLLER_NODE_ARGS = ['--max-semi-space-size=4', '--liftoff-only'];

/** Spawns a controller process and waits for its ready line. */
async function spawnController(cmd: ControllerCommand, args: string[]): Promise<{ child: SpawnedProcess; ready: ReadyLine }> {
  const { opts } = cmd;
  // Its own process group: a terminal's Ctrl-C reaches us, and we stop the cluster in order.
  const child = cmd.spawner.start({ entry: 'core/controller/main', args, nodeArgs: CONTROLLER_NODE_ARGS, detached: true });
  const logTail: string[] = [];
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (text: string) => {
    if (opts.verbose || process.env.MULTIENGINE_DEBUG) process.stderr.write(text);
    logTail.push(...text.split('\n').filter(Boolean));
    if (logTail.length > 40) logTail.splice(0, logTail.length - 40);
  });
  try {
    return { child, ready: await readReadyLine(child, cmd.timeoutMs, logTail) };
  } catch (e) {
    child.signal('SIGKILL');
    throw e;
  }
}

function readReadyLine(child: SpawnedProcess, timeoutMs: number, logTail: string[]): Promise<ReadyLine> {
  return new Promise((resolve, reject) => {
    const rl = readline.createInterface({ input: child.stdout });
    const fail = (why: string) => {
      clearTimeout(timer);
      exited.dispose();
      rl.close();
      const log = logTail.length ? `\n${logTail.slice(-10).join('\n')}` : '';
      reject(new ClusterError(`controller did not start: ${why}${log}`));
    };
    const timer = setTimeout(() => fail(`no ready line within ${timeoutMs} ms`), timeoutMs);
    const exited = child.onDidExit((e) => fail(e.signal ? `it exited with ${e.signal}` : e.code !== null ? `it exited with code ${e.code}` : e.reason));
    rl.once('line', (line) => {
      clearTimeout(timer);
      exited.dispose();
      try {
        const ready = JSON.parse(line) as ReadyLine;
        if (ready.event !== 'ready') throw new Error(`unexpected first line ${line}`);
        resolve(ready);
      } catch (e) {
        fail((e as Error).message);
      }
    });
  });
}
