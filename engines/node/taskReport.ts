/**
 * Tells the controller about each direct request this engine answered (task_report, protocol
 * section 13), which the controller never sees, so its task database records them too. Each
 * request becomes one positional entry (an array of what is at hand: no request kept, no keys),
 * encoded at once; they go out as one JSON buffer at most every TASK_REPORT_MS (right after the
 * reply when the interval is up), and at once when TASK_REPORT_MAX pile up. Off unless the controller's
 * registration_reply asks for reports (a controller with --db none does not).
 */
import { Buffer } from 'node:buffer';
import { encodeDirectEntry, joinDirectEntries, SAME, type SentEntry } from '../../core/protocol/directEntries.js';
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

export class TaskReport {
  /** Set from registration_reply.report_tasks. */
  enabled = false;
  /** Entries as JSON text, encoded as they come: a flush (maybe between two requests of a quick conversation) only joins them. */
  private q: string[] = [];
  /** The session and code of the last entry in q (a repeat is sent as SAME). */
  private session: string | null = null;
  private code: string | null = null;
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
    const h = req.header;
    const status = outcome.status === 'ok' || outcome.status === 'aborted' ? outcome.status : 'error';
    const code = codeOf(req);
    const first = this.q.length === 0;
    const t: SentEntry = [h.msg_id, h.msg_type, !first && h.session === this.session ? SAME : h.session, typeof h.date === 'string' ? h.date : null, received, started, completed, status, bytes, !first && code !== null && code === this.code ? SAME : code, labelOf(req.metadata)];
    this.session = h.session;
    this.code = code;
    // Only what was printed and the error: most requests print nothing and succeed.
    if (output !== null || status === 'error') t.push(output?.stdout ?? null, output?.stderr ?? null);
    if (status === 'error') t.push(typeof outcome.ename === 'string' ? outcome.ename : 'Error', typeof outcome.evalue === 'string' ? outcome.evalue.slice(0, EVALUE_CHARS) : '');
    this.q.push(encodeDirectEntry(t));
    // With the interval up, the timer fires at once, but after this tick: the reply that made the
    // entry leaves first (a conversation's next request is not kept waiting for the report).
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
    if (this.send({ content: { n: q.length }, buffers: [Buffer.from(joinDirectEntries(q))] })) this.sent += q.length;
  }
}
