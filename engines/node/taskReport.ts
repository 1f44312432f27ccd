/**
 * Tells the controller about each direct request this engine answered (task_report, protocol
 * section 13), which the controller never sees, so its task database records them too. The
 * report is in the columns form, made of bytes that already exist: each request's header and its
 * reply's metadata (which holds the times) as the reply's frame carries them, copied into two
 * growing buffers, the replies' sizes, and a row of extras only where the code changes or a
 * label, output or an outcome other than ok is there. No entry is built or stringified per
 * request: JSON.stringify of 900 positional entries took 0.5-1 ms of the engine's loop, which
 * round trips waited for. add keeps what it is given until the reply has gone out (the
 * connection writes at the end of the tick: work here would delay it), then, in the next tick,
 * copies the bytes and lets the request and its frame go (keeping requests and replies until the
 * report cost the engine's garbage collector about 5 µs per request in round trips). Reports go
 * out at most every TASK_REPORT_MS: right after the tick of the reply when the interval is up and
 * the engine has nothing left to run; while it has, they wait (so that in a burst neither the
 * engine's loop nor the controller spends time on them), BUSY_MS at the longest; and once
 * TASK_REPORT_MAX pile up or they printed REPORT_OUTPUT_CHARS. Off unless the controller's
 * registration_reply asks for reports (a controller with --db none does not).
 */
import { Buffer } from 'node:buffer';
import { SAME } from '../../core/protocol/directEntries.js';
import type { Message } from '../../core/protocol/messages.js';
import { codeOf, labelOf } from '../../core/protocol/taskText.js';
import { framePart } from '../../core/transport/codec.js';

export const TASK_REPORT_MS = 50;
export const TASK_REPORT_MAX = 4096;
/** While the engine has requests to run, a report waits for it to go idle, at most this long. */
export const BUSY_MS = 1000;
/**
 * Characters of output waiting in a report at which it goes (in the tick after): a report must
 * stay well under the maximum message size, and what requests print is most of what could make it big.
 */
export const REPORT_OUTPUT_CHARS = 1 << 20;
/** Kept of an error's evalue (the traceback stays with the client). */
const EVALUE_CHARS = 1024;
/** Kept of each stream a direct request printed (what the engine streamed to the client is not capped by this). */
export const OUTPUT_CHARS = 16 * 1024;
/** The columns form's separators: between its sections (GS), between the entries of one (RS). No JSON text holds them raw. */
const GS = 0x1d;
const RS = 0x1e;
const GS_BYTE = Buffer.from([GS]);

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

/** What add is given, until the next tick copies it: the reply's frame head holds the request's header (its parent) and the reply's metadata. */
type Answered = [req: Message, head: Buffer, outcome: Outcome, bytes: number, output: DirectOutput | null];

/** A report: its count, and its entries (the columns form) as the message's buffer. */
export type TaskReportMessage = { content: { n: number }; buffers: Uint8Array[] };

/** A section of RS-separated JSON texts, appended to in place; it grows by doubling and is reused after each report. */
class Section {
  private buf = Buffer.allocUnsafe(64 * 1024);
  length = 0;

  append(bytes: Uint8Array, first: boolean): void {
    const need = this.length + bytes.byteLength + 1;
    if (need > this.buf.byteLength) {
      const bigger = Buffer.allocUnsafe(Math.max(need, 2 * this.buf.byteLength));
      this.buf.copy(bigger, 0, 0, this.length);
      this.buf = bigger;
    }
    if (!first) this.buf[this.length++] = RS;
    this.buf.set(bytes, this.length);
    this.length += bytes.byteLength;
  }

  get bytes(): Buffer {
    return this.buf.subarray(0, this.length);
  }
}

export class TaskReport {
  /** Set from registration_reply.report_tasks. */
  enabled = false;
  /** The columns of the requests answered since the last report. */
  private readonly headers = new Section();
  private readonly metadata = new Section();
  // One array each, emptied after a report rather than replaced: a new array literal per report
  // had other elements kinds than the first, and `column` was deoptimized (and compiled again by
  // TurboFan, on the engine's helper threads) at the push of the first row after a report.
  private readonly sizes: number[] = [];
  private readonly rows: unknown[][] = [];
  /** The code of the last entry so far (an entry without a row has the code of the one before). */
  private code: string | null = null;
  /** Answered in this tick: copied into the columns in the next (after the replies were written). */
  private answered: Answered[] = [];
  private readonly afterReplies = (): void => {
    this.takeAnswered();
    if (this.sizes.length >= TASK_REPORT_MAX || this.outputChars >= REPORT_OUTPUT_CHARS || (!this.busy() && performance.now() - this.lastAt >= TASK_REPORT_MS)) this.flush();
  };
  private readonly onTimer = (): void => {
    this.timer = null;
    if (this.busy() && performance.now() - this.firstAt < BUSY_MS) this.timer = setTimeout(this.onTimer, TASK_REPORT_MS);
    else this.flush();
  };
  private timer: ReturnType<typeof setTimeout> | null = null;
  private lastAt = -Infinity;
  /** When the first of the requests waiting to be reported was added. */
  private firstAt = 0;
  /** Characters of output the waiting requests printed. */
  private outputChars = 0;
  /** Requests reported so far. */
  sent = 0;

  /**
   * `send` returns false when there is no controller connection (the entries are dropped);
   * `busy` is true while the engine has requests to run.
   */
  constructor(
    private readonly send: (report: TaskReportMessage) => boolean,
    private readonly busy: () => boolean = () => false,
  ) {}

  /** A direct request was answered by the frame whose head is `head` (encodeMessageFrame's), `bytes` long; `output` is what it printed. */
  add(req: Message, head: Buffer, outcome: Outcome, bytes: number, output: DirectOutput | null = null): void {
    if (!this.enabled) return;
    if (this.sizes.length === 0 && this.answered.length === 0) this.firstAt = performance.now();
    // Queued after the connection's own end-of-tick write (process.nextTick runs in order).
    if (this.answered.push([req, head, outcome, bytes, output]) === 1) process.nextTick(this.afterReplies);
    if (output !== null) this.outputChars += (output.stdout?.length ?? 0) + (output.stderr?.length ?? 0);
    // For what waits past the tick after (the interval was not up, or the engine was busy).
    if (this.timer === null) this.timer = setTimeout(this.onTimer, Math.max(0, this.lastAt + TASK_REPORT_MS - performance.now()));
  }

  /** Number of requests waiting to be reported. */
  get waiting(): number {
    return this.sizes.length + this.answered.length;
  }

  flush(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.takeAnswered();
    const n = this.sizes.length;
    if (n === 0) return;
    const buffer = Buffer.concat([this.headers.bytes, GS_BYTE, this.metadata.bytes, GS_BYTE, Buffer.from(JSON.stringify(this.sizes)), GS_BYTE, Buffer.from(JSON.stringify(this.rows))]);
    this.headers.length = this.metadata.length = 0;
    this.sizes.length = 0;
    this.rows.length = 0;
    this.outputChars = 0;
    this.lastAt = performance.now();
    if (this.send({ content: { n }, buffers: [buffer] })) this.sent += n;
  }

  /** The requests answered so far join the columns, and are let go. */
  private takeAnswered(): void {
    if (this.answered.length === 0) return;
    const a = this.answered;
    this.answered = [];
    for (const x of a) this.column(x);
  }

  private column([req, head, outcome, bytes, output]: Answered): void {
    const i = this.sizes.length;
    this.headers.append(framePart(head, 1), i === 0);
    this.metadata.append(framePart(head, 2), i === 0);
    this.sizes.push(bytes);
    const code = codeOf(req);
    const label = labelOf(req.metadata);
    const status = outcome.status === 'ok' || outcome.status === 'aborted' ? outcome.status : 'error';
    const same = i > 0 && code === this.code;
    this.code = code;
    // Only where the code changes, or a label, output or an outcome other than ok is there: most
    // requests of a burst run one function, print nothing and succeed.
    if (same && label === null && status === 'ok' && output === null) return;
    this.rows.push(extrasRow(i, same && code !== null ? SAME : code, label, status, outcome, output));
  }
}

/** The row of an entry with something to say (protocol section 13): out of `column`, whose common case it is not. */
function extrasRow(i: number, code: string | null | typeof SAME, label: string | null, status: string, outcome: Outcome, output: DirectOutput | null): unknown[] {
  const row: unknown[] = [i, code, label];
  if (status !== 'ok' || output !== null) {
    row.push(status === 'ok' ? null : status);
    if (output !== null || status === 'error') row.push(output?.stdout ?? null, output?.stderr ?? null);
    if (status === 'error') row.push(typeof outcome.ename === 'string' ? outcome.ename : 'Error', typeof outcome.evalue === 'string' ? outcome.evalue.slice(0, EVALUE_CHARS) : '');
  }
  return row;
}
