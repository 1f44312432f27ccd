/**
 * Engine sets: groups of engines started together by one launcher (docs/launchers.md). Local
 * sets are started engine by engine by the supervisor (which restarts them); the others by a
 * launcher plugin (mpiexec, ssh, a batch job), whose engines register with `--engine-set` and
 * take the ids this room reserved for them (first id + rank). When a launcher's processes or job
 * end, the engines still alive from it are marked dead with the launcher's reason, so their
 * outstanding requests fail with EngineError instead of hanging.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { ConnectionInfo } from '../connection/connectionFile.js';
import { profileDir } from '../connection/connectionFile.js';
import { CONNECTION_ENV } from '../connection/engineStart.js';
import { engineLanguage, isLanguageName, languageNames } from '../kernels/index.js';
import type { EngineSetContext, EngineSetLauncher, LauncherStatus } from '../launch/launcher.js';
import { loadLauncher } from '../launch/plugins.js';
import { NodeSpawner, type ProcessSpawner } from '../launch/spawner.js';
import type { EngineSetInfo, EngineSetState, Json, KernelKind } from '../protocol/messages.js';
import type { EngineRecord } from './engineRecord.js';
import type { EngineRegistry } from './engineRegistry.js';
import { launchSpec } from './localLauncher.js';
import { log } from './log.js';
import type { ControllerOptions } from './options.js';
import { RequestError } from './replies.js';
import type { Supervisor } from './supervisor.js';

/** Engines of a launcher's set must register within this long unless the request says otherwise. */
const DEFAULT_SET_TIMEOUT_MS = 60_000;
/** Ended sets stay listed (with their reason) up to this many. */
const MAX_ENDED_SETS = 64;

export interface AddEnginesRequest {
  n: number;
  engine: KernelKind;
  python?: string;
  launcher?: string;
  launcher_options?: { [key: string]: Json };
  timeout_ms?: number;
}

export interface EngineSetsDeps {
  readonly registry: Pick<EngineRegistry, 'get' | 'idFreeFor' | 'reserve' | 'unreserve' | 'release' | 'freshBlock'>;
  readonly supervisor: Pick<Supervisor, 'addEngines' | 'markDead' | 'stop'>;
  readonly opts: ControllerOptions;
  /** What engines need to reach this controller (the engine connection file's content). */
  connection(): ConnectionInfo;
  isShuttingDown(): boolean;
  readonly spawner?: ProcessSpawner;
}

interface SetRecord {
  readonly id: string;
  readonly launcherName: string;
  readonly engine: KernelKind;
  readonly n: number;
  readonly firstId: number;
  /** Absent for local sets (the supervisor starts and restarts those engines). */
  readonly launcher: EngineSetLauncher | null;
  readonly engines: Set<number>;
  readonly hosts: Set<string>;
  /** Ids reserved for engines that have not registered yet. */
  readonly waiting: Set<number>;
  state: EngineSetState;
  reason?: string;
  readonly started: string;
  ended?: string;
  /** Listed again after a controller restart, from its engines; its launcher is not known. */
  adopted?: boolean;
  /** Set once stopping began: resolves when its engines are stopped and its launcher ended. */
  stopping?: Promise<void>;
  /** The launcher's folder in the profile (job scripts, output), removed when the set is forgotten. */
  workDir?: string;
  /** Settles the add_engines request once every engine registered (or the launch failed). */
  allRegistered?: () => void;
  launchFailed?: (why: string) => void;
}

export class EngineSets {
  private readonly sets = new Map<string, SetRecord>();
  private counter = 0;
  private readonly spawner: ProcessSpawner;

  constructor(private readonly d: EngineSetsDeps) {
    this.spawner = d.spawner ?? new NodeSpawner();
    // A restarted controller numbers on from the sets of the one before (their folders), so a new
    // set never takes the id that engines of an old one come back with.
    if (d.opts.reuseKey) this.counter = highestSetNumber(path.join(profileDir(d.opts.profile, d.opts.dir), 'engine_sets'));
  }

  /** add_engines_request: a new set; resolves with its engines' ids (ascending) once all registered. */
  async add(req: AddEnginesRequest): Promise<{ ids: number[]; set: string }> {
    const name = req.launcher ?? 'local';
    if (name === 'local') {
      if (req.launcher_options && Object.keys(req.launcher_options).length) {
        throw new RequestError('ValueError', `the local launcher takes no options, got ${Object.keys(req.launcher_options).join(', ')}`);
      }
      const ids = await this.d.supervisor.addEngines(req.n, req.engine, req.python);
      const set = this.newRecord(this.nextSetId(), 'local', req.engine, req.n, ids[0] ?? 0, null);
      for (const id of ids) set.engines.add(id);
      set.state = 'running';
      this.refreshHosts(set);
      return { ids, set: set.id };
    }
    return this.addThroughLauncher(name, req);
  }

  private async addThroughLauncher(name: string, req: AddEnginesRequest): Promise<{ ids: number[]; set: string }> {
    if (this.d.isShuttingDown()) throw new RequestError('ControllerError', 'the controller is shutting down');
    if (!isLanguageName(req.engine)) throw new RequestError('ValueError', `engine must be one of ${languageNames.join(', ')}; got ${JSON.stringify(req.engine)}`);
    const plugin = await loadLauncher(name).catch((e: Error) => {
      throw new RequestError('LaunchError', e.message);
    });
    const firstId = this.d.registry.freshBlock(req.n);
    const id = this.nextSetId();
    const ctx = this.context(id, req, firstId);
    let launcher: EngineSetLauncher;
    try {
      launcher = plugin.create(ctx, req.launcher_options ?? {});
    } catch (e) {
      throw new RequestError('ValueError', `${name} launcher: ${(e as Error).message}`);
    }
    const set = this.newRecord(id, name, req.engine, req.n, firstId, launcher);
    set.workDir = ctx.workDir;
    for (let i = 0; i < req.n; i++) {
      set.waiting.add(firstId + i);
      this.d.registry.reserve(firstId + i);
    }
    const registered = new Promise<void>((resolve, reject) => {
      set.allRegistered = resolve;
      set.launchFailed = (why) => reject(new RequestError('LaunchError', why));
    });
    registered.catch(() => {});
    launcher.onDidChangeStatus((s) => this.onStatus(set, s));
    const timeoutMs = req.timeout_ms ?? DEFAULT_SET_TIMEOUT_MS;
    const timer = setTimeout(() => {
      const late = [...set.waiting];
      const s = launcher.status;
      this.fail(
        set,
        `engine${late.length > 1 ? 's' : ''} ${late.join(', ')} of ${set.id} did not register within ${timeoutMs / 1000} s ` +
          `(the ${name} launcher says: ${s.state}${s.reason ? `, ${s.reason}` : ''})${outputTail(launcher)}`,
      );
    }, timeoutMs);
    try {
      await launcher.start();
      if (set.state === 'starting') set.state = launcher.status.state === 'pending' ? 'pending' : 'starting';
      log.info(`${set.id}: ${name} launcher started ${req.n} ${req.engine} engines (ids ${firstId}..${firstId + req.n - 1})${launcher.status.jobId ? `, job ${launcher.status.jobId}` : ''}`);
      await registered;
      return { ids: [...set.engines].sort((a, b) => a - b), set: set.id };
    } catch (e) {
      const why = e instanceof RequestError ? e.message : `the ${name} launcher could not start: ${(e as Error).message}${outputTail(launcher)}`;
      await this.fail(set, why);
      throw e instanceof RequestError ? e : new RequestError('LaunchError', why);
    } finally {
      clearTimeout(timer);
    }
  }

  private context(setId: string, req: AddEnginesRequest, firstId: number): EngineSetContext {
    const info = this.d.connection();
    const line = JSON.stringify(info);
    const language = engineLanguage(req.engine);
    const interpreter = launchSpec(req.engine, req.python, this.d.opts.python).interpreter;
    const workDir = path.join(profileDir(this.d.opts.profile, this.d.opts.dir), 'engine_sets', setId);
    fs.mkdirSync(workDir, { recursive: true, mode: 0o700 });
    return {
      setId,
      n: req.n,
      firstId,
      engine: req.engine,
      interpreter,
      env: { [CONNECTION_ENV]: line },
      connectionLine: line,
      workDir,
      spawner: this.spawner,
      log: (text) => log.info(`${setId}: ${text}`),
      engineOutput: (line, id) => log.relay(`[${id === undefined ? setId : `engine ${id}`}] ${line}\n`),
      engineCommand(o = {}) {
        const own = ['--engine-set', setId, ...(o.id !== undefined ? ['--id', String(o.id)] : ['--id-base', String(firstId)]), ...(o.connectionOnStdin ? ['--connection-stdin'] : [])];
        if (o.program === undefined && o.root === undefined) {
          const { command, args } = language.local.command(interpreter, own);
          return [command, ...args];
        }
        return language.remoteCommand(o.program ?? interpreter, o.root, own);
      },
    };
  }

  private nextSetId(): string {
    let id: string;
    do id = `set-${++this.counter}`;
    while (this.sets.has(id));
    return id;
  }

  /**
   * An engine of a set this controller did not start: a controller before it did, and was
   * restarted (its engines come back with their ids). The set is listed again so its engines can
   * be seen and stopped together, and its id is never given to a new set; its launcher (and job)
   * stayed with the old controller.
   */
  private adopt(e: EngineRecord): SetRecord {
    const id = e.reg.engine_set!;
    const set = this.newRecord(id, 'unknown', e.reg.kernel, 0, e.id, null);
    set.adopted = true;
    set.state = 'running';
    set.reason = 'adopted: the controller that started this set was restarted, and its launcher (its job, its mpiexec) is not known here';
    const n = /^set-(\d+)$/.exec(id);
    if (n) this.counter = Math.max(this.counter, Number(n[1]));
    log.info(`${id}: engine ${e.id} belongs to a set of the controller before this one; listed as adopted`);
    return set;
  }

  private newRecord(id: string, launcherName: string, engine: KernelKind, n: number, firstId: number, launcher: EngineSetLauncher | null): SetRecord {
    const set: SetRecord = {
      id,
      launcherName,
      engine,
      n,
      firstId,
      launcher,
      engines: new Set(),
      hosts: new Set(),
      waiting: new Set(),
      state: 'starting',
      started: new Date().toISOString(),
    };
    this.sets.set(id, set);
    this.trim();
    return set;
  }

  /** A registering engine names its set and asks for an id this room holds for it: it may take it. */
  claim(setId: string | undefined, requested: number | undefined): number | undefined {
    if (setId === undefined || requested === undefined) return undefined;
    const set = this.sets.get(setId);
    return set && set.waiting.has(requested) ? requested : undefined;
  }

  /** An engine registered; when it came from a set, the set counts it (and is complete when all came). */
  registered(e: EngineRecord): void {
    if (e.reg.engine_set === undefined) return;
    const set = this.sets.get(e.reg.engine_set) ?? this.adopt(e);
    if (set.waiting.delete(e.id)) this.d.registry.unreserve(e.id);
    set.engines.add(e.id);
    set.launcher?.engineRegistered?.(e.id);
    if (e.reg.host) set.hosts.add(e.reg.host);
    if (set.state === 'ended') {
      // The set was given up on (timeout, stop) while this engine was on its way.
      void this.d.supervisor.stop(e);
      return;
    }
    if (set.waiting.size === 0 && (set.state === 'starting' || set.state === 'pending')) {
      set.state = 'running';
      set.allRegistered?.();
    }
  }

  private onStatus(set: SetRecord, s: LauncherStatus): void {
    if (set.state === 'ended' || set.state === 'stopping') return;
    if (s.state === 'pending') set.state = 'pending';
    if (s.state === 'pending' || s.state === 'running') set.reason = s.reason;
    if (s.state !== 'ended') return;
    const reason = s.reason ?? 'its launcher ended';
    if (set.waiting.size > 0) {
      void this.fail(set, `${set.id} ended before all its engines registered: ${reason}${outputTail(set.launcher)}`);
      return;
    }
    this.end(set, reason);
  }

  /** The set is over: its engines still alive are dead with the launcher's reason. */
  private end(set: SetRecord, reason: string): void {
    if (set.state === 'ended') return;
    set.state = 'ended';
    set.reason = reason;
    set.ended = new Date().toISOString();
    for (const id of set.waiting) this.d.registry.release(id);
    set.waiting.clear();
    for (const id of set.engines) {
      const e = this.d.registry.get(id);
      if (e?.alive && e.reg.engine_set === set.id) this.d.supervisor.markDead(e, `${set.id} ended: ${reason}`, { kill: false, graceful: false, restart: false });
    }
    log.info(`${set.id} ended: ${reason}`);
  }

  /** A launch that failed: stop what did start, and reject the add_engines request with `why`. */
  private async fail(set: SetRecord, why: string): Promise<void> {
    if (set.state === 'ended') return;
    set.launchFailed?.(why);
    await this.stopRecord(set, `launch failed: ${why.split('\n')[0]}`);
  }

  /** stop_engine_set_request. */
  async stop(setId: string): Promise<void> {
    await this.stopRecord(this.get(setId), 'stopped');
  }

  /** Stops the set once; every caller waits for the same end (a failed add replies only after its job is cancelled). */
  private stopRecord(set: SetRecord, reason: string): Promise<void> {
    if (set.state === 'ended') return set.stopping ?? Promise.resolve();
    set.stopping ??= this.doStop(set, reason);
    return set.stopping;
  }

  private async doStop(set: SetRecord, reason: string): Promise<void> {
    set.state = 'stopping';
    const stops: Promise<void>[] = [];
    for (const id of set.engines) {
      const e = this.d.registry.get(id);
      if (e && (set.launcher === null || e.reg.engine_set === set.id)) stops.push(this.d.supervisor.stop(e));
    }
    await Promise.all(stops);
    if (set.launcher) {
      try {
        await set.launcher.stop();
      } catch (e) {
        log.warn(`${set.id}: stopping its ${set.launcherName} launcher failed: ${(e as Error).message}`);
      }
    }
    this.end(set, reason);
  }

  /** restart_engine_request for an engine of a launcher's set; undefined when the supervisor restarts it (local). */
  async restart(e: EngineRecord): Promise<number | undefined> {
    const set = e.reg.engine_set === undefined ? undefined : this.sets.get(e.reg.engine_set);
    if (!set || !set.launcher) return undefined;
    const launcher = set.launcher;
    if (!launcher.restartEngine) {
      throw new RequestError('ValueError', `engine ${e.id} is part of ${set.id}, started by the ${set.launcherName} launcher: ${launcher.cannotRestart ?? 'that launcher cannot restart one engine'}`);
    }
    if (set.state === 'ended' || set.state === 'stopping') throw new RequestError('ValueError', `engine ${e.id}'s set ${set.id} has ended (${set.reason ?? ''}); start a new set`);
    const id = e.id;
    this.d.registry.reserve(id);
    try {
      await this.d.supervisor.stop(e);
    } finally {
      this.d.registry.unreserve(id);
    }
    set.engines.delete(id);
    set.waiting.add(id);
    this.d.registry.reserve(id);
    const back = new Promise<void>((resolve, reject) => {
      set.allRegistered = resolve;
      set.launchFailed = (why) => reject(new RequestError('LaunchError', why));
    });
    const timer = setTimeout(() => set.launchFailed?.(`restarting engine ${id} of ${set.id}: it did not register within ${DEFAULT_SET_TIMEOUT_MS / 1000} s${outputTail(launcher)}`), DEFAULT_SET_TIMEOUT_MS);
    try {
      const was = set.state;
      set.state = 'starting';
      // Either may fail first: the launcher (its new process ended) or the timeout.
      await Promise.all([launcher.restartEngine(id), back]);
      if (set.state === 'starting') set.state = was;
      return id;
    } catch (err) {
      set.waiting.delete(id);
      this.d.registry.release(id);
      if (set.state === 'starting') set.state = 'running';
      throw err instanceof RequestError ? err : new RequestError('LaunchError', `restarting engine ${id} of ${set.id} failed: ${(err as Error).message}`);
    } finally {
      clearTimeout(timer);
    }
  }

  /** engine_set_output_request. */
  output(setId: string): string {
    const set = this.get(setId);
    if (set.launcher) return set.launcher.output();
    if (set.adopted) return `${set.id} was started by the controller before this one (it was restarted): what its launcher printed went with it\n`;
    return `${set.id} was started by the local launcher: its engines' output is in the controller's log, prefixed [engine N]\n`;
  }

  list(): EngineSetInfo[] {
    return [...this.sets.values()].map((set) => {
      if (!set.launcher) this.refreshLocal(set);
      const info: EngineSetInfo = {
        id: set.id,
        launcher: set.launcherName,
        engine: set.engine,
        n: set.adopted ? set.engines.size : set.n,
        engines: [...set.engines].sort((a, b) => a - b),
        hosts: [...set.hosts].sort(),
        state: set.state,
        started: set.started,
      };
      if (set.reason) info.reason = set.reason;
      const jobId = set.launcher?.status.jobId;
      if (jobId) info.job_id = jobId;
      if (set.ended) info.ended = set.ended;
      return info;
    });
  }

  /** Controller shutdown: every launcher's set is stopped (its job cancelled), so nothing is left behind. */
  async shutdownAll(): Promise<void> {
    await Promise.all([...this.sets.values()].filter((s) => s.launcher).map((s) => this.stopRecord(s, 'the controller shut down')));
  }

  private get(setId: string): SetRecord {
    const set = this.sets.get(setId);
    if (!set) throw new RequestError('KeyError', `no engine set ${JSON.stringify(setId)}${this.sets.size ? `; the sets are ${[...this.sets.keys()].join(', ')}` : ' (none was started)'}`);
    return set;
  }

  /** A local set is running while one of its engines is listed and alive, ended when none is. */
  private refreshLocal(set: SetRecord): void {
    this.refreshHosts(set);
    if (set.state !== 'running') return;
    const alive = [...set.engines].some((id) => this.d.registry.get(id)?.alive);
    if (!alive) {
      set.state = 'ended';
      set.reason = set.adopted ? `${set.reason}; all its engines stopped or died` : 'all its engines stopped or died';
      set.ended = new Date().toISOString();
    }
  }

  private refreshHosts(set: SetRecord): void {
    for (const id of set.engines) {
      const host = this.d.registry.get(id)?.reg.host;
      if (host) set.hosts.add(host);
    }
  }

  private trim(): void {
    const ended = [...this.sets.values()].filter((s) => s.state === 'ended');
    for (const s of ended.slice(0, Math.max(0, ended.length - MAX_ENDED_SETS))) {
      this.sets.delete(s.id);
      if (s.workDir) fs.rmSync(s.workDir, { recursive: true, force: true });
    }
  }
}

/** The last lines the launcher printed, to quote in an error. */
function outputTail(launcher: EngineSetLauncher | null): string {
  const text = launcher?.output().trim();
  if (!text) return '';
  const lines = text.split('\n').slice(-12);
  return `; its output ends:\n${lines.join('\n')}`;
}

/** The highest N of the set-N folders in `dir` (0 when none). */
function highestSetNumber(dir: string): number {
  let highest = 0;
  try {
    for (const name of fs.readdirSync(dir)) {
      const m = /^set-(\d+)$/.exec(name);
      if (m) highest = Math.max(highest, Number(m[1]));
    }
  } catch {
    /* no sets yet */
  }
  return highest;
}
