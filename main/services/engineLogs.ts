/**
 * Where the Logs view's lines come from, so a user gets the whole story:
 * - the controller's log: its stderr, read as the app starts it (a spawner that taps the process
 *   Cluster starts), or, attached to a controller started elsewhere, its log file in the profile
 *   folder, followed. It holds the controller's own lines and every engine process's own stdout
 *   and stderr, which the controller relays as "[engine N] ..." (local engines, and engines its
 *   launchers can tell apart: mpiexec's rank tags, one ssh per engine, srun's labels) or as
 *   "[set-N] ..." (a set's lines of no known engine): start-up, crashes, what a library prints
 *   outside a request;
 * - the output of requests (what code run on an engine prints), of every client: the
 *   controller's task events say which requests finished, and their stdout and stderr are read
 *   from its task database, at most one query at a time and BATCH_IDS requests per query.
 * Lines reach the renderer in batches every PUSH_MS; the LogStore keeps them within caps.
 */
import { StringDecoder } from 'node:string_decoder';
import type { Disposable } from '../../core/events/emitter.js';
import { FileFollower } from '../../core/util/fileFollower.js';
import type { Client, ProcessSpawner, TaskEventBatch, TaskRecord as DbRecord } from '../../core/index.js';
import { LOG_RESULT_LINES, type LogLine, type LogQuery, type LogResult, type LogStream } from '../../preload/contract.js';
import type { EventSink } from '../ipc/router.js';
import { LogStore } from './logStore.js';

export const PUSH_MS = 200;
/** Requests whose output one database query reads. */
export const BATCH_IDS = 500;
/** Finished requests waiting for their output to be read, at most (the oldest are left out past it). */
export const MAX_WAITING = 20_000;

const ENGINE_LINE = /^\[(engine \d+|set-\d+)\] ?(.*)$/;
/** Polls of an attached controller's log file. */
export const LOG_FILE_POLL_MS = 250;
/** Of an attached controller's log file, the end read first (what it said before the app came). */
const LOG_FILE_HISTORY = 256 * 1024;
const CONTROLLER_PREFIX = /^\[controller\] ?/;

/** Splits text that comes in chunks into whole lines (a partial line waits for its end). */
export class LineSplitter {
  private partial = '';
  constructor(private readonly onLine: (line: string) => void) {}

  write(text: string): void {
    const parts = (this.partial + text).split('\n');
    this.partial = parts.pop() ?? '';
    for (const p of parts) this.onLine(p.endsWith('\r') ? p.slice(0, -1) : p);
  }

  end(): void {
    if (this.partial) this.onLine(this.partial);
    this.partial = '';
  }
}

/** A spawner that hands everything the processes it starts write on stderr to `onText` as well. */
export function tapStderr(inner: ProcessSpawner, onStart: () => { write(text: string): void; end(): void }): ProcessSpawner {
  return {
    start(spec) {
      const proc = inner.start(spec);
      const sink = onStart();
      const decoder = new StringDecoder('utf8');
      proc.stderr.on('data', (d: string | Buffer) => sink.write(typeof d === 'string' ? d : decoder.write(d)));
      proc.stderr.on('close', () => sink.end());
      return proc;
    },
  };
}

export class EngineLogs {
  readonly store = new LogStore();
  private pending: LogLine[] = [];
  private readonly touched = new Set<string>();
  private timer: ReturnType<typeof setTimeout> | null = null;
  private rc: Client | null = null;
  private sub: Disposable | null = null;
  /** Finished requests whose output is still to be read: msg_id -> the engines whose part finished. */
  private waiting = new Map<string, Set<number>>();
  private reading = false;
  private noDbSaid = false;
  private logFile: FileFollower | null = null;

  constructor(private readonly events: EventSink) {}

  /** What the controller process writes on stderr: its log, and its local engines' output. */
  controllerStderr(): LineSplitter {
    return new LineSplitter((line) => {
      const m = ENGINE_LINE.exec(line);
      if (m) this.add(m[1], 'process', m[2]);
      else if (line.trim() !== '') this.add('controller', 'log', line.replace(CONTROLLER_PREFIX, ''));
    });
  }

  /** Output a request printed on engine `id`. */
  requestOutput(id: number, stream: 'stdout' | 'stderr', text: string): void {
    const lines = text.split('\n');
    if (lines.at(-1) === '') lines.pop();
    for (const l of lines) this.add(`engine ${id}`, stream, l);
  }

  /** Follows the log file of a controller the app did not start (null: stops). */
  followLogFile(file: string | null): void {
    this.logFile?.stop();
    this.logFile = null;
    if (file === null) return;
    const lines = this.controllerStderr();
    this.note(`attached: the controller's log is read from ${file}`);
    this.logFile = new FileFollower(file, (l) => lines.write(`${l}\n`), { pollMs: LOG_FILE_POLL_MS, fromEnd: LOG_FILE_HISTORY }).start();
  }

  /** A note of the app's own about the logs (in the controller's source). */
  note(text: string): void {
    this.add('controller', 'log', `(app) ${text}`);
  }

  search(q: LogQuery): LogResult {
    return this.store.search(q);
  }

  /** Reads the output of `rc`'s finished requests from now on (null: none). */
  follow(rc: Client | null): void {
    this.sub?.dispose();
    this.sub = null;
    this.waiting = new Map();
    this.rc = rc;
    if (rc) this.sub = rc.onTaskEvents((b) => this.finished(b));
  }

  dispose(): void {
    this.follow(null);
    this.followLogFile(null);
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  private finished(b: TaskEventBatch): void {
    for (const e of b.events) {
      if (e.event !== 'finished' || e.engine_id === null) continue;
      const engines = this.waiting.get(e.msg_id);
      if (engines) engines.add(e.engine_id);
      else this.waiting.set(e.msg_id, new Set([e.engine_id]));
    }
    if (this.waiting.size > MAX_WAITING) {
      const over = this.waiting.size - MAX_WAITING;
      for (const id of [...this.waiting.keys()].slice(0, over)) this.waiting.delete(id);
      this.note(`the output of ${over} requests was not read: they finished faster than it could be`);
    }
    void this.readOutput();
  }

  private async readOutput(): Promise<void> {
    if (this.reading) return;
    this.reading = true;
    try {
      while (this.waiting.size > 0 && this.rc && !this.rc.isClosed) {
        const rc = this.rc;
        const batch = new Map([...this.waiting].slice(0, BATCH_IDS));
        for (const id of batch.keys()) this.waiting.delete(id);
        let records: Partial<DbRecord>[];
        try {
          records = await rc.dbQuery({ msg_id: { $in: [...batch.keys()] } }, ['msg_id', 'engine_id', 'stdout', 'stderr', 'completed']);
        } catch (e) {
          if (!this.noDbSaid && this.rc === rc && !rc.isClosed) this.note(`requests' output cannot be shown: ${(e as Error).message}`);
          this.noDbSaid = true;
          continue;
        }
        if (this.rc !== rc) break;
        records.sort((a, b) => String(a.completed ?? '').localeCompare(String(b.completed ?? '')));
        for (const r of records) {
          // Only the engines whose part finished now: another engine's part was read when it finished.
          if (typeof r.engine_id !== 'number' || !batch.get(r.msg_id ?? '')?.has(r.engine_id)) continue;
          if (r.stdout) this.requestOutput(r.engine_id, 'stdout', r.stdout);
          if (r.stderr) this.requestOutput(r.engine_id, 'stderr', r.stderr);
        }
      }
    } finally {
      this.reading = false;
    }
  }

  private add(source: string, stream: LogStream, text: string): void {
    this.pending.push(this.store.add(source, stream, text));
    this.touched.add(source);
    this.timer ??= setTimeout(() => this.push(), PUSH_MS);
  }

  private push(): void {
    this.timer = null;
    // A renderer shows LOG_RESULT_LINES at most: a burst beyond is not sent (the counts in `sources` still say what is kept).
    const sources = [...this.touched].map((s) => this.store.source(s)).filter((s) => s !== undefined);
    const lines = this.pending.length > LOG_RESULT_LINES ? this.pending.slice(-LOG_RESULT_LINES) : this.pending;
    this.pending = [];
    this.touched.clear();
    this.events.emit('onLogLines', { lines, sources });
  }
}
