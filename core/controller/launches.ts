/**
 * Local engine processes started and not registered yet: each holds its id (reserved in the
 * registry) until its engine registers, fails to start, exits early or misses the deadline.
 */
import type { EngineRecord } from './engineRecord.js';
import type { EngineRegistry } from './engineRegistry.js';
import { LaunchError } from '../kernels/launch.js';
import { engineCommand, LocalProcess, type LaunchSpec, type ProcessEnd } from './localLauncher.js';
import { log } from './log.js';

/** How long add_engines / restart_engine wait for local engines to register. */
const LAUNCH_TIMEOUT_MS = 25_000;

/** A launch waiting for its engine to register. */
export interface PendingLaunch {
  readonly id: number;
  readonly spec: LaunchSpec;
  readonly restarts: number;
  /** Set for restarts: why the engine before it went away. */
  readonly restartReason: string | undefined;
  proc: LocalProcess | null;
  engine: EngineRecord | null;
  settled: boolean;
  resolve(id: number): void;
  reject(e: Error): void;
}

export interface LaunchesDeps {
  readonly registry: Pick<EngineRegistry, 'reserve' | 'unreserve' | 'release'>;
  /** The engine connection file local engines are started with. */
  engineFile(): string;
  /** A launched process ended (before or after its engine registered). */
  onEnd(launch: PendingLaunch, proc: LocalProcess, end: ProcessEnd): void;
}

export class Launches {
  private readonly byId = new Map<number, PendingLaunch>();
  private readonly byPid = new Map<number, PendingLaunch>();

  constructor(private readonly d: LaunchesDeps) {}

  /** The launch waiting to take `id`. */
  get(id: number): PendingLaunch | undefined {
    return this.byId.get(id);
  }

  /** Launches not settled yet (a copy: failing one changes the set). */
  all(): PendingLaunch[] {
    return [...this.byId.values()];
  }

  /** The launch a registering engine belongs to: by its pid, else by the id we told it to take. */
  forEngine(pid: number, requested: number | undefined): PendingLaunch | undefined {
    let launch = this.byPid.get(pid);
    if (launch && requested !== undefined && requested !== launch.id) launch = undefined;
    if (!launch && requested !== undefined) launch = this.byId.get(requested);
    return launch && !launch.settled ? launch : undefined;
  }

  /** Spawns one local engine that is to take `id`; resolves with the id once it registered. */
  start(id: number, spec: LaunchSpec, restarts: number, restartReason?: string): { promise: Promise<number>; launch: PendingLaunch } {
    let resolve!: (id: number) => void;
    let reject!: (e: Error) => void;
    const promise = new Promise<number>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    const launch: PendingLaunch = { id, spec, restarts, restartReason, proc: null, engine: null, settled: false, resolve, reject };
    this.d.registry.reserve(id);
    try {
      const cmd = engineCommand(spec, this.d.engineFile(), id);
      launch.proc = new LocalProcess(spec, id, cmd, (proc, end) => this.d.onEnd(launch, proc, end));
    } catch (e) {
      launch.settled = true;
      this.d.registry.release(id);
      reject(e instanceof LaunchError ? e : new LaunchError(`cannot start a ${spec.kind} engine: ${(e as Error).message}`));
      return { promise, launch };
    }
    this.byId.set(id, launch);
    if (launch.proc.pid) this.byPid.set(launch.proc.pid, launch);
    log.debug(`launched ${spec.kind} engine for id ${id} (pid ${launch.proc.pid})`);
    return { promise, launch };
  }

  /** Forget a launch's bookkeeping (after registration, failure or give-up). */
  settle(launch: PendingLaunch): void {
    launch.settled = true;
    if (this.byId.get(launch.id) === launch) this.byId.delete(launch.id);
    if (launch.proc?.pid && this.byPid.get(launch.proc.pid) === launch) this.byPid.delete(launch.proc.pid);
    this.d.registry.unreserve(launch.id);
  }

  /** Gives up on a launch: its id goes back, its process is killed, its waiter gets `err`. */
  fail(launch: PendingLaunch, err: Error): void {
    if (launch.settled) return;
    this.settle(launch);
    this.d.registry.release(launch.id);
    launch.proc?.kill('SIGKILL');
    launch.reject(err);
  }

  /** All launches registered => their ids ascending; the first failure (or the deadline) => the others are killed. */
  async awaitAll(launches: PendingLaunch[], promises: Promise<number>[]): Promise<number[]> {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const late = launches.filter((l) => !l.settled);
        const tails = late.flatMap((l) => l.proc?.stderrTail().slice(-5) ?? []);
        reject(
          new LaunchError(
            `engine${late.length > 1 ? 's' : ''} ${late.map((l) => l.id).join(', ')} did not register within ${LAUNCH_TIMEOUT_MS / 1000} s` +
              (tails.length ? `; last stderr lines:\n${tails.join('\n')}` : ''),
          ),
        );
      }, LAUNCH_TIMEOUT_MS);
    });
    try {
      const ids = await Promise.race([Promise.all(promises), deadline]);
      return ids.sort((a, b) => a - b);
    } catch (e) {
      for (const l of launches) this.fail(l, e as Error);
      throw e;
    } finally {
      clearTimeout(timer);
      for (const p of promises) p.catch(() => {});
    }
  }
}
