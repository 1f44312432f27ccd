/**
 * Supervises engine processes: launches local engines (localLauncher) and waits for them to
 * register, restarts them (on request, and with restart 'always' after a death, within a
 * bound), stops and reaps them, and marks engines dead when their heart goes silent, their
 * connection drops or their process exits.
 */
import { ENGINE_STOPPED_REASONS, type ContentMap, type KernelKind, type Message } from '../protocol/messages.js';
import { checkHeartbeat, describe } from '../protocol/validate.js';
import type { Connection } from '../transport/connection.js';
import type { ControllerOptions } from './options.js';
import type { EngineRecord } from './engineRecord.js';
import type { EngineRegistry } from './engineRegistry.js';
import { Launches, type PendingLaunch } from './launches.js';
import { isLanguageName, languageNames } from '../kernels/index.js';
import { LaunchError } from '../kernels/launch.js';
import { describeEnd, earlyExitMessage, engineCommand, forkServersGone, launchSpec, type EngineProcess, type LocalProcess, type ProcessEnd } from './localLauncher.js';
import { log } from './log.js';
import { RequestError, type Replier } from './replies.js';

/** How long a stopped local engine gets to exit before SIGKILL. */
const STOP_GRACE_MS = 2_000;
/** A failed automatic restart is tried again after this long (still within the restart limit). */
const RESTART_RETRY_MS = 1_000;

export interface SupervisorDeps {
  readonly registry: Omit<EngineRegistry, 'add' | 'live' | 'idFreeFor' | 'list'>;
  readonly replier: Replier;
  readonly opts: ControllerOptions;
  /** The engine connection file local engines are started with. */
  engineFile(): string;
  isShuttingDown(): boolean;
  /** The engine is gone: its outstanding work is to be answered (the work router). */
  engineGone(e: EngineRecord, reason: string): void;
  /** A beat named the request the engine runs, or none (the work router keeps track). */
  running(e: EngineRecord, task: ContentMap['heartbeat']['running']): void;
  /** A malformed message was dropped (counted). */
  dropped(why: string): void;
}

export interface DeathHow {
  /** SIGKILL a local process that still runs. */
  kill: boolean;
  /** Stopped on purpose: the connection is closed after the queued shutdown_request, no restart. */
  graceful: boolean;
  /** false: no automatic restart even when the policy says so. */
  restart?: boolean;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function formatMs(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${ms} ms`;
}

export class Supervisor {
  private readonly launches: Launches;
  /** Per id: times of automatic restarts (restart 'always'), for the limit. */
  private readonly restartTimes = new Map<number, number[]>();

  constructor(private readonly d: SupervisorDeps) {
    this.launches = new Launches({ registry: d.registry, engineFile: d.engineFile, onEnd: (launch, proc, end) => this.onLocalEnd(launch, proc, end) });
  }

  // ------------------------------------------------------------------ deaths

  /**
   * The engine is gone: answer everything outstanding on it with EngineError, close its
   * connections, publish, and (when `kill`) SIGKILL it if it was ours and still runs.
   */
  markDead(e: EngineRecord, reason: string, how: DeathHow): void {
    if (!e.alive) return;
    e.state = 'dead';
    e.reason = reason;
    e.unresponsive = false;
    (how.graceful ? log.info : log.warn)(`engine ${e.id} is dead: ${reason}${e.outstanding.size ? ` (${e.outstanding.size} outstanding requests fail)` : ''}`);
    this.d.engineGone(e, reason);
    if (how.graceful) {
      // shutdown_request was just queued on main: end() sends it before the FIN. The heart is
      // left for the engine to close as it exits (a beat on it from a dead engine closes it).
      e.main.close();
    } else {
      e.main.destroy();
      e.heart?.destroy();
      e.heart = null;
    }
    if (how.kill) e.local?.kill('SIGKILL');
    this.d.registry.changed(e);
    this.d.registry.died(e);
    if (!how.graceful && how.restart !== false) this.autoRestart(e, reason);
  }

  /**
   * A message on an engine's heart: a beat says it is alive (and responsive again), names what
   * it runs and, about once a second, what the engine uses (kept for status, not published:
   * that would be an event per engine per second to every client).
   */
  onBeat(e: EngineRecord, conn: Connection, msg: Message): void {
    if (msg.header.msg_type !== 'heartbeat') {
      log.warnLimited('heart-type', `engine ${e.id}'s heart sent ${describe(msg.header.msg_type)}; ignored`);
      return;
    }
    if (!e.alive) {
      conn.close();
      return;
    }
    let beat: ContentMap['heartbeat'];
    let badStats: string | undefined;
    try {
      ({ beat, badStats } = checkHeartbeat(msg.content));
    } catch (err) {
      this.d.dropped(`engine ${e.id}'s heart sent a malformed heartbeat: ${(err as Error).message}`);
      return;
    }
    e.lastBeat = Date.now();
    if (beat.stats) {
      e.stats = beat.stats;
      e.statsAt = e.lastBeat;
    } else if (badStats !== undefined) this.d.dropped(`engine ${e.id}'s heart sent malformed stats (the beat counts, the stats are dropped): ${badStats}`);
    this.d.running(e, beat.running);
    if (e.unresponsive) {
      e.unresponsive = false;
      log.info(`engine ${e.id} is responsive again`);
      this.d.registry.refresh(e);
    }
  }

  /** Missed heartbeats: unresponsive until the next beat. */
  markUnresponsive(e: EngineRecord, silentMs: number): void {
    log.warn(`engine ${e.id} is unresponsive (no heartbeat for ${silentMs} ms)`);
    e.unresponsive = true;
    this.d.registry.refresh(e);
  }

  /**
   * Main connection gone => dead. For a local engine wait up to 100 ms for its process to
   * end, so the reason can say how (exit code, signal) rather than just "connection closed".
   */
  onMainClosed(e: EngineRecord): void {
    if (!e.alive) return;
    const local = e.local;
    if (local?.running) {
      void Promise.race([local.ended, sleep(100)]).then(() => {
        // Usually onLocalEnd has marked it dead with the exit reason by now.
        if (e.alive) this.markDead(e, local.end ? `process ${describeEnd(local.end)}` : 'main connection closed', { kill: true, graceful: false });
      });
      return;
    }
    this.markDead(e, 'main connection closed', { kill: true, graceful: false });
  }

  /**
   * restart 'always': a local engine that died gets a replacement with the same id (and a new
   * namespace), at most maxRestarts times per restartWindowMs per id; then the controller gives
   * up and says so in the dead engine's reason.
   */
  private autoRestart(e: EngineRecord, why: string): void {
    const { opts, registry } = this.d;
    if (opts.restart !== 'always' || !e.spec || this.d.isShuttingDown() || e.stopping) return;
    const id = e.id;
    if (registry.get(id) !== e || this.launches.get(id) !== undefined) return;
    const now = Date.now();
    const times = (this.restartTimes.get(id) ?? []).filter((t) => now - t < opts.restartWindowMs);
    this.restartTimes.set(id, times);
    if (times.length >= opts.maxRestarts) {
      e.reason = `${why}; not restarted: it was restarted ${times.length} time${times.length === 1 ? '' : 's'} within ${formatMs(opts.restartWindowMs)} (the limit)`;
      log.warn(`engine ${id}: ${e.reason}`);
      registry.changed(e);
      return;
    }
    times.push(now);
    e.reason = `${why}; restarting`;
    log.info(`engine ${id} died (${why}); restarting it (restart ${times.length} of at most ${opts.maxRestarts} within ${formatMs(opts.restartWindowMs)})`);
    registry.changed(e);
    const { promise, launch } = this.launches.start(id, e.spec, e.restarts + 1, why);
    this.launches.awaitAll([launch], [promise]).catch((err: Error) => {
      if (registry.get(id) !== e || e.alive || e.stopping || this.d.isShuttingDown()) return;
      e.reason = `${why}; restart failed: ${err.message}`;
      log.warn(`engine ${id}: ${e.reason}`);
      registry.changed(e);
      setTimeout(() => this.autoRestart(e, why), RESTART_RETRY_MS).unref();
    });
  }

  // ------------------------------------------------------------------ launches

  /** The launch a registering engine belongs to: by its pid, else by the id we told it to take. */
  launchFor(pid: number, requested: number | undefined): PendingLaunch | undefined {
    return this.launches.forEngine(pid, requested);
  }

  /** The engine of `launch` registered. */
  launched(launch: PendingLaunch, e: EngineRecord): void {
    launch.engine = e;
    this.launches.settle(launch);
    launch.resolve(e.id);
    // The process may have ended between its registration being sent and read.
    if (launch.proc?.end) this.onLocalEnd(launch, launch.proc, launch.proc.end);
  }

  private onLocalEnd(launch: PendingLaunch, proc: LocalProcess, end: ProcessEnd): void {
    const e = launch.engine;
    if (e) {
      // A registered engine whose process ended is dead at once.
      if (e.alive) this.markDead(e, `process ${describeEnd(end)}`, { kill: false, graceful: false });
      else if (e.reason && !e.reason.startsWith('process') && e.reason !== 'stopped') e.reason += `; process ${describeEnd(end)}`;
      return;
    }
    if (launch.settled) return;
    void proc.drained.then(() => this.launches.fail(launch, new LaunchError(earlyExitMessage(proc, end))));
  }

  /** add_engines_request: `n` new local engines; their ids ascending once all registered. */
  async addEngines(n: number, kind: KernelKind, python: string | undefined): Promise<number[]> {
    if (this.d.isShuttingDown()) throw new RequestError('ControllerError', 'the controller is shutting down');
    // Any language may register; the controller starts only those it has a descriptor for.
    if (!isLanguageName(kind)) throw new RequestError('ValueError', `engine must be one of ${languageNames.join(', ')}; got ${JSON.stringify(kind)}`);
    const spec = launchSpec(kind, python, this.d.opts.python);
    try {
      engineCommand(spec, this.d.engineFile(), 0); // fail early (no ids taken) when the engine or interpreter is missing
    } catch (e) {
      throw new RequestError('LaunchError', (e as Error).message);
    }
    const launches: PendingLaunch[] = [];
    const promises: Promise<number>[] = [];
    for (let i = 0; i < n; i++) {
      const { promise, launch } = this.launches.start(this.d.registry.freshId(), spec, 0);
      launches.push(launch);
      promises.push(promise);
    }
    try {
      return await this.launches.awaitAll(launches, promises);
    } catch (e) {
      const ok = launches.filter((l) => l.engine).map((l) => l.id);
      throw new RequestError('LaunchError', (e as Error).message + (ok.length ? ` (engines ${ok.join(', ')} did register and stay)` : ''));
    }
  }

  // ------------------------------------------------------------------ stop and restart

  /** The engine listed under `id`, or a RequestError for a stop/restart request. */
  engine(id: number): EngineRecord {
    const e = this.d.registry.get(id);
    if (!e) throw new RequestError('EngineError', `no engine with id ${id}`);
    return e;
  }

  stop(e: EngineRecord): Promise<void> {
    if (!e.stopping) e.stopping = this.doStop(e);
    return e.stopping;
  }

  private async doStop(e: EngineRecord): Promise<void> {
    // An automatic restart on its way would bring the id back: stopping means gone.
    const relaunch = this.launches.get(e.id);
    if (relaunch && this.d.registry.get(e.id) === e) this.launches.fail(relaunch, new LaunchError(`engine ${e.id} was stopped`));
    if (e.alive) {
      e.main.send(this.d.replier.message('shutdown_request', {}));
      this.markDead(e, ENGINE_STOPPED_REASONS.stopped, { kill: false, graceful: true });
    }
    await this.reap(e.local);
    this.d.registry.remove(e);
    log.info(`engine ${e.id} stopped`);
  }

  /** Waits up to 2 s for a local process to exit, then SIGKILLs it and waits for that. */
  private async reap(proc: EngineProcess | null): Promise<void> {
    if (!proc || !proc.running) return;
    const gone = await Promise.race([proc.ended.then(() => true), sleep(STOP_GRACE_MS).then(() => false)]);
    if (gone) return;
    log.warn(`engine process ${proc.pid} did not exit within ${STOP_GRACE_MS} ms; killing it`);
    proc.kill('SIGKILL');
    await Promise.race([proc.ended, sleep(STOP_GRACE_MS)]);
  }

  async restart(e: EngineRecord): Promise<number> {
    if (!e.spec) {
      throw new RequestError('ValueError', `engine ${e.id} was not started by this controller, so it cannot be restarted (restart it where it runs)`);
    }
    if (e.stopping || this.launches.get(e.id) !== undefined) throw new RequestError('ValueError', `engine ${e.id} is already being stopped or restarted`);
    const { id, spec } = e;
    const restarts = e.restarts + 1;
    this.d.registry.reserve(id); // nobody else takes the id in the gap
    try {
      await this.stop(e);
    } finally {
      this.d.registry.unreserve(id);
    }
    const { promise, launch } = this.launches.start(id, spec, restarts, 'restarted on request');
    try {
      return (await this.launches.awaitAll([launch], [promise]))[0];
    } catch (err) {
      throw new RequestError('LaunchError', `restarting engine ${id} failed: ${(err as Error).message}`);
    }
  }

  // ------------------------------------------------------------------ shutdown

  /** Every engine gets shutdown_request; local processes that do not exit within 2 s are killed. */
  async shutdownAll(): Promise<void> {
    const procs: EngineProcess[] = [];
    for (const l of this.launches.all()) {
      if (l.proc) procs.push(l.proc);
      this.launches.fail(l, new LaunchError('the controller is shutting down'));
    }
    const shutdown = this.d.replier.encode('shutdown_request', {});
    for (const e of this.d.registry.values()) {
      if (e.alive) {
        e.main.sendParts(shutdown);
        this.markDead(e, ENGINE_STOPPED_REASONS.shutdown, { kill: false, graceful: true });
      }
      if (e.local) procs.push(e.local);
    }
    await Promise.all(procs.map((p) => this.reap(p)));
    // Their fork servers exit right after them: not left to init as zombies of an exited controller.
    await forkServersGone(2000);
  }

  /** Last resort on process exit: SIGKILL every local engine still running. Synchronous. */
  killAllSync(): void {
    for (const l of this.launches.all()) l.proc?.kill('SIGKILL');
    for (const e of this.d.registry.values()) e.local?.kill('SIGKILL');
  }
}
