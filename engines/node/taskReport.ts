/**
 * Tells the controller about each direct request this engine answered (task_report, protocol
 * section 13), which the controller never sees, so its task database records them too. Each
 * request is kept as add got it and becomes one positional entry when the report goes out, as
 * one JSON buffer: at most every TASK_REPORT_MS (right after the tick of the reply when the
 * interval is up), and at once when TASK_REPORT_MAX pile up. Off unless the controller's
 * registration_reply asks for reports (a controller with --db none does not).
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

/** A report: its count, and its entries as the message's buffer. */
export type TaskReportMessage = { content: { n: number }; buffers: Uint8Array[] };

/** What add keeps of a request until the report goes out. */
type Pending = [req: Message, received: string, started: string, completed: string, outcome: Outcome, bytes: number, output: DirectOutput | null];

export class TaskReport {
  /** Set from registration_reply.report_tasks. */
  enabled = false;
  /**
   * Requests as add got them: encoded when the report goes out, after the tick that wrote their
   * replies, so a conversation's reply is not kept waiting for its entry (a flush between two
   * of its requests delays one of them, not the median).
   */
  private q: Pending[] = [];
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
    this.q.push([req, received, started, completed, outcome, bytes, output]);
    // With the interval up, the timer fires at once, but after this tick: the reply that made the
    // entry leaves first.
    if (this.q.length >= TASK_REPORT_MAX) this.flush();
    else if (this.timer === null) this.timer = setTimeout(() => this.flush(), Math.max(0, this.lastAt + TASK_REPORT_MS - performance.now()));
  }

  /** Number of requests waiting to be reported. */
  get waiting(): number {
    return this.q.length;
  }

  flush(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    const q = this.q;
    if (q.length === 0) return;
    this.q = [];
    this.lastAt = performance.now();
    if (this.send({ content: { n: q.length }, buffers: [Buffer.from(JSON.stringify(entries(q)))] })) this.sent += q.length;
  }
}

/** The entries of a report; a session or code repeated from the entry before is SAME. */
function entries(q: readonly Pending[]): SentEntry[] {
  let session: string | null = null;
  let code: string | null = null;
  return q.map(([req, received, started, completed, outcome, bytes, output], i) => {
    const h = req.header;
    const status = outcome.status === 'ok' || outcome.status === 'aborted' ? outcome.status : 'error';
    const c = codeOf(req);
    const t: SentEntry = [h.msg_id, h.msg_type, i > 0 && h.session === session ? SAME : h.session, typeof h.date === 'string' ? h.date : null, received, started, completed, status, bytes, i > 0 && c !== null && c === code ? SAME : c, labelOf(req.metadata)];
    session = h.session;
    code = c;
    // Only what was printed and the error: most requests print nothing and succeed.
    if (output !== null || status === 'error') t.push(output?.stdout ?? null, output?.stderr ?? null);
    if (status === 'error') t.push(typeof outcome.ename === 'string' ? outcome.ename : 'Error', typeof outcome.evalue === 'string' ? outcome.evalue.slice(0, EVALUE_CHARS) : '');
    return t;
  });
}
