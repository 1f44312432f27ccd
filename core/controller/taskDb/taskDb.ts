/**
 * The controller's task database: finished task records and stored values, behind one async
 * API whatever the backend. `sqlite` (the default) runs in a worker thread; `memory` is a bounded
 * store in this process; `none` keeps nothing. When the SQLite file cannot be opened or written
 * (not a database, a full disk), one log line says so and records go on in memory.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import type { TaskDbStatus, TaskFilter, TaskRecord } from '../../protocol/messages.js';
import { isAlive } from '../../util/processes.js';
import { log } from '../log.js';
import { directRecords, SessionClients, type DirectReport } from './directRecords.js';
import { MemoryStore } from './memoryStore.js';
import type { Caps, StoreCounts, StoredRequest, StoredValue, TaskStore } from './taskStore.js';
import type { WorkerReply, WorkerRequest, WorkerSetup } from './workerMessages.js';
import { GATHERING, WRITE_LIMITS, WriteQueue, type Gathering, type WriteBatch, type WriteLimits } from './writeQueue.js';

export type TaskDbBackend = 'sqlite' | 'memory' | 'none';

export interface TaskDbOptions {
  backend: TaskDbBackend;
  /** The SQLite file (backend 'sqlite'). */
  file: string;
  caps: Caps;
  /** Back-pressure toward the worker (writeQueue.ts); tests make them small. */
  writeLimits?: WriteLimits;
  /** When gathered writes are posted to the worker (writeQueue.ts). */
  gathering?: Gathering;
  /** A malformed task_report (counted with the controller's dropped messages). */
  dropped?: (why: string) => void;
}

type Call = { op: Exclude<WorkerRequest['op'], 'write' | 'client'> } & Record<string, unknown>;

// Run from source (unit tests under tsx) the worker is the .ts file, loaded through tsx's API.
const fromSource = import.meta.url.endsWith('.ts');

function startWorker(setup: WorkerSetup): Worker {
  const url = new URL(`./sqliteWorker.${fromSource ? 'ts' : 'js'}`, import.meta.url);
  if (!fromSource) return new Worker(url, { workerData: setup, execArgv: [] });
  const api = import.meta.resolve('tsx/esm/api');
  const boot = `import(${JSON.stringify(api)}).then((api) => api.tsImport(${JSON.stringify(url.href)}, ${JSON.stringify(import.meta.url)}))`;
  return new Worker(boot, { eval: true, workerData: setup, execArgv: [] });
}

/**
 * node-sqlite3-wasm locks a database by making `<file>.lock` (a directory) for each transaction:
 * a controller killed in the middle of one leaves it behind, and every later access would be
 * SQLITE_BUSY. `<file>.pid` names the controller that uses the file; when that process is gone,
 * its lock is stale and goes (SQLite then rolls the cut transaction back from its journal). A
 * live owner (a second controller on the same profile) keeps it: this one falls back to memory.
 */
function claimFile(file: string): void {
  const lock = `${file}.lock`;
  const owner = `${file}.pid`;
  if (fs.existsSync(lock)) {
    let pid = 0;
    try {
      pid = Number(fs.readFileSync(owner, 'utf8'));
    } catch {
      /* no owner recorded: nobody to wait for */
    }
    if (pid !== process.pid && isAlive(pid)) return;
    fs.rmSync(lock, { recursive: true, force: true });
  }
  fs.writeFileSync(owner, String(process.pid), { mode: 0o600 });
}

export class TaskDb {
  private memory: MemoryStore | null = null;
  private worker: Worker | null = null;
  private readonly calls = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
  private nextCall = 0;
  private counts: StoreCounts = { rows: 0, bytes: 0, evicted: 0 };
  private fallback: string | undefined;
  private queue: WriteQueue | null = null;
  /** Client sessions, for direct requests' records made on this thread (the worker keeps its own copy). */
  private readonly clients = new SessionClients();

  constructor(private readonly opts: TaskDbOptions) {
    if (opts.backend === 'memory') this.memory = new MemoryStore(opts.caps);
    else if (opts.backend === 'sqlite') this.openWorker();
  }

  /** Records anything at all (false for --db none: the recorder then does no work). */
  get enabled(): boolean {
    return this.opts.backend !== 'none';
  }

  /** Stored values are kept here (sqlite), beyond the in-memory ResultStore. */
  get keepsValues(): boolean {
    return this.worker !== null;
  }

  private openWorker(): void {
    try {
      // The records hold code and output: the file is the user's alone, like the connection files.
      fs.mkdirSync(path.dirname(this.opts.file), { recursive: true, mode: 0o700 });
      fs.closeSync(fs.openSync(this.opts.file, 'a', 0o600));
      claimFile(this.opts.file);
    } catch (e) {
      this.fallBack((e as Error).message);
      return;
    }
    const w = (this.worker = startWorker({ file: this.opts.file, caps: this.opts.caps }));
    w.unref();
    // Reports' buffers move to the worker (each is a copy of its own, recorder.ts): no clone.
    const post = (b: WriteBatch) => w.postMessage({ op: 'write', ...b } satisfies WorkerRequest, b.reports.map((r) => r.bytes.buffer as ArrayBuffer));
    const queue = (this.queue = new WriteQueue(post, (text) => log.warn(text), this.opts.writeLimits ?? WRITE_LIMITS, this.opts.gathering ?? GATHERING));
    w.on('message', (m: WorkerReply) => {
      if ('malformed' in m) this.malformed(m.engine, m.malformed);
      else if ('counts' in m) {
        this.counts = m.counts;
        if (m.wrote) queue.written();
      }
      else if ('fatal' in m) this.fallBack(m.fatal);
      else {
        const c = this.calls.get(m.id);
        this.calls.delete(m.id);
        if ('error' in m) c?.reject(new Error(m.error));
        else c?.resolve(m.value);
      }
    });
    w.on('error', (e) => this.fallBack(e.message));
  }

  /** The database cannot be used: say so once, and keep records in memory from now on. */
  private fallBack(why: string): void {
    if (this.fallback !== undefined) return;
    log.error(`task database ${this.opts.file} cannot be used (${why}); task records are kept in memory from now on, as with --db memory`);
    const w = this.worker;
    this.worker = null;
    void w?.terminate();
    this.fallback = why;
    this.memory = new MemoryStore(this.opts.caps);
    for (const c of this.calls.values()) c.reject(new Error(`the task database failed: ${why}`));
    this.calls.clear();
  }

  private call<T>(m: Call, local: (s: TaskStore) => T, none: T): Promise<T> {
    if (this.memory !== null) return Promise.resolve(local(this.memory));
    const w = this.worker;
    if (w === null) return Promise.resolve(none);
    // Writes gathered for the worker go first, so a read sees every record the recorder has flushed.
    this.queue?.flush();
    const id = ++this.nextCall;
    return new Promise<T>((resolve, reject) => {
      this.calls.set(id, { resolve: resolve as (v: unknown) => void, reject });
      w.postMessage({ ...m, id });
    });
  }

  /** Task reports can go to write() unread: a worker thread reads them (else directRecords here). */
  get readsReports(): boolean {
    return this.worker !== null;
  }

  /** A client connected with this session: direct requests' records name it by number. */
  client(session: string, client: number): void {
    this.clients.set(session, client);
    this.worker?.postMessage({ op: 'client', session, client } satisfies WorkerRequest);
  }

  /** A report's records, read on this thread ([] for a malformed one, which is logged and counted). */
  directRecords(r: DirectReport): TaskRecord[] {
    try {
      return directRecords(r, this.clients);
    } catch (e) {
      this.malformed(r.engine, (e as Error).message);
      return [];
    }
  }

  private malformed(engine: number, why: string): void {
    const text = `engine ${engine} sent a malformed task_report: ${why}`;
    if (this.opts.dropped !== undefined) this.opts.dropped(text);
    else log.warnLimited('task_report', text);
  }

  write(records: TaskRecord[], values: StoredValue[], requests: StoredRequest[] = [], reports: DirectReport[] = []): void {
    if (this.memory !== null) {
      // Sent unread just before a fallback to memory: read here.
      for (const r of reports) for (const t of this.directRecords(r)) records.push(t);
      this.memory.write(records, values, requests);
    } else if (this.worker !== null) this.queue!.write(records, values, requests, reports);
  }

  /** Direct requests still flow on some engine: gathered writes wait for the lull (writeQueue.ts). */
  traffic(): void {
    this.queue?.traffic();
  }

  query(filter: TaskFilter, keys?: string[], last?: number): Promise<Partial<TaskRecord>[]> {
    return this.call({ op: 'query', filter, keys, last }, (s) => s.query(filter, keys, last), []);
  }

  history(): Promise<string[]> {
    return this.call({ op: 'history' }, (s) => s.history(), []);
  }

  value(msgId: string): Promise<StoredValue | undefined> {
    return this.call({ op: 'value', msgId }, (s) => s.value(msgId), undefined);
  }

  /** An execute or apply request as it came (for resubmit). */
  request(msgId: string): Promise<StoredRequest | undefined> {
    return this.call({ op: 'request', msgId }, (s) => s.request(msgId), undefined);
  }

  purge(msgIds: string[] | 'all', targets?: number[]): Promise<number> {
    return this.call({ op: 'purge', msgIds, targets }, (s) => s.purge(msgIds, targets), 0);
  }

  status(): TaskDbStatus {
    const counts = this.memory !== null ? this.memory.counts() : this.counts;
    const s: TaskDbStatus = { backend: this.memory !== null ? 'memory' : this.opts.backend, ...counts, max_rows: this.opts.caps.maxRows, max_bytes: this.opts.caps.maxBytes };
    if (this.opts.backend === 'sqlite') s.file = this.opts.file;
    if (this.fallback !== undefined) s.fallback = this.fallback;
    if (this.queue !== null && this.queue.dropped > 0) s.dropped = this.queue.dropped;
    return s;
  }

  /** Writes what was sent, then closes the file. */
  async close(): Promise<void> {
    if (this.worker !== null) {
      this.queue?.drain();
      await this.call({ op: 'close' }, () => null, null).catch(() => undefined);
      await this.worker?.terminate();
      this.worker = null;
    }
    this.memory?.close();
  }
}
