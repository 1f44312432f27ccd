/**
 * Tells the controller about each direct request this engine answered (task_report, protocol
 * section 13), which the controller never sees, so its task database records them too. add
 * keeps what it is given until the reply has gone out (the connection writes at the end of the
 * tick: work here would delay it), then, in the next tick, makes each request's positional entry
 * from strings and numbers and lets the request go (keeping requests and replies until the report
 * cost the engine's garbage collector about 5 µs per request in round trips, bench/dbCpu.ts).
 * The entries go out as one JSON buffer, a session or code repeated from the entry before as
 * SAME: at most every TASK_REPORT_MS (right after the tick of the reply when the interval is
 * up), and once TASK_REPORT_MAX pile up. Off unless the controller's registration_reply asks for
 * reports (a controller with --db none does not).
 */
import { Buffer } from 'node:buffer';
import { SAME, type SentEntry } from '../../core/protocol/directEntries.js';
import type { Message } from '../../core/protocol/messages.js';
import { codeOf, labelOf } from '../../core/protocol/taskText.js';

export const TASK_REPORT_MS = 50;
export const TASK_REPORT_MAX = 512;
/** Kept of an error's evalue (the traceback stays with the client). */
const EVALUE_CHARS = 1024;
/** Kept of each stream a direct request printed (what the engine streamed to the client is not capped by this). */
export const OUTPUT_CHARS = 16 * 1024;

/** What a direct request printed, per stream, as far as OUTPUT_CHARS. */
export type DirectOutput = { stdout?: string; stderr?: string };

/** `kept` plus these chunks of output, each stream capped (only called when a request prints). */
export function keepOutput(kept: DirectOutput | null, chunks: readonly { name: 'stdout' | 'stderr'; text: string }[]): DirectOutput {
  const k = kept ?? {};
  for (const { name, text } of chunks) {
    const have = k[name] ?? '';
    if (have.length < OUTPUT_CHARS) k[name] = have + (text.length > OUTPUT_CHARS - have.length ? text.slice(0, OUTPUT_CHARS - have.length) : text);
  }
  return k;
}

type Outcome = { status?: unknown; ename?: unknown; evalue?: unknown };

/** What add is given, until the next tick makes it an entry. */
type Answered = [req: Message, received: string, started: string, completed: string, outcome: Outcome, bytes: number, output: DirectOutput | null];

/** A report: its count, and its entries as the message's buffer. */
export type TaskReportMessage = { content: { n: number }; buffers: Uint8Array[] };

export class TaskReport {
  /** Set from registration_reply.report_tasks. */
  enabled = false;
  /** The entries of the requests answered since the last report (session and code not yet SAME). */
  private q: SentEntry[] = [];
  /** Answered in this tick: made entries in the next (after the replies were written). */
  private answered: Answered[] = [];
  private readonly afterReplies = (): void => {
    this.makeEntries();
    if (this.q.length >= TASK_REPORT_MAX) this.flush();
  };
  private timer: ReturnType<typeof setTimeout> | null = null;
  private lastAt = -Infinity;
  /** Requests reported so far. */
  sent = 0;

  /** `send` returns false when there is no controller connection (the entries are dropped). */
  constructor(private readonly send: (report: TaskReportMessage) => boolean) {}

  /**
   * A direct request was answered: its times ISO, as its reply's metadata carries them (made once
   * for both: a Date formatted per request is a third of this reporter's work), `bytes` of the
   * reply, what it printed.
   */
  add(req: Message, received: string, started: string, completed: string, outcome: Outcome, bytes: number, output: DirectOutput | null = null): void {
    if (!this.enabled) return;
    // Queued after the connection's own end-of-tick write (process.nextTick runs in order).
    if (this.answered.push([req, received, started, completed, outcome, bytes, output]) === 1) process.nextTick(this.afterReplies);
    // With the interval up, the timer fires at once, but after this tick: the reply that made the
    // entry leaves first.
    if (this.timer === null) this.timer = setTimeout(() => this.flush(), Math.max(0, this.lastAt + TASK_REPORT_MS - performance.now()));
  }

  /** Number of requests waiting to be reported. */
  get waiting(): number {
    return this.q.length + this.answered.length;
  }

  flush(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.makeEntries();
    const q = this.q;
    if (q.length === 0) return;
    this.q = [];
    this.lastAt = performance.now();
    if (this.send({ content: { n: q.length }, buffers: [Buffer.from(JSON.stringify(same(q)))] })) this.sent += q.length;
  }

  /** The requests answered so far become entries, and are let go. */
  private makeEntries(): void {
    if (this.answered.length === 0) return;
    const a = this.answered;
    this.answered = [];
    for (const x of a) this.q.push(entryOf(x));
  }
}

function entryOf([req, received, started, completed, outcome, bytes, output]: Answered): SentEntry {
  const h = req.header;
  const status = outcome.status === 'ok' || outcome.status === 'aborted' ? outcome.status : 'error';
  const t: SentEntry = [h.msg_id, h.msg_type, h.session, typeof h.date === 'string' ? h.date : null, received, started, completed, status, bytes, codeOf(req), labelOf(req.metadata)];
  // Only what was printed and the error: most requests print nothing and succeed.
  if (output !== null || status === 'error') t.push(output?.stdout ?? null, output?.stderr ?? null);
  if (status === 'error') t.push(typeof outcome.ename === 'string' ? outcome.ename : 'Error', typeof outcome.evalue === 'string' ? outcome.evalue.slice(0, EVALUE_CHARS) : '');
  return t;
}

/** `q` with each session or code that repeats the entry before's replaced by SAME (in place). */
function same(q: SentEntry[]): SentEntry[] {
  let session: unknown = null;
  let code: unknown = null;
  for (let i = 0; i < q.length; i++) {
    const t = q[i];
    const s = t[2];
    const c = t[9];
    if (i > 0 && s === session) t[2] = SAME;
    if (i > 0 && c !== null && c === code) t[9] = SAME;
    session = s;
    code = c;
  }
  return q;
}
