/**
 * Tells the controller about each direct request this engine answered (task_report, protocol
 * section 13), which the controller never sees, so its task database records them too. Per
 * request only what is at hand is kept, in one flat array (no object per request); the entries
 * are built when the report goes out: at most every TASK_REPORT_MS, at once when
 * TASK_REPORT_MAX pile up, and when the engine goes idle with the interval up. Off unless the
 * controller's registration_reply asks for reports (a controller with --db none does not).
 */
import type { DirectTaskEntry, Message } from '../../core/protocol/messages.js';
import { codeOf, labelOf } from '../../core/protocol/taskText.js';

export const TASK_REPORT_MS = 50;
export const TASK_REPORT_MAX = 512;
/** Kept of an error's evalue (the traceback stays with the client). */
const EVALUE_CHARS = 1024;
/** Kept of each stream a direct request printed (what the engine streamed to the client is not capped by this). */
export const OUTPUT_CHARS = 16 * 1024;
/** Fields pushed per request. */
const STRIDE = 7;

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

export class TaskReport {
  /** Set from registration_reply.report_tasks. */
  enabled = false;
  private q: unknown[] = [];
  private timer: ReturnType<typeof setTimeout> | null = null;
  private lastAt = -Infinity;
  /** Requests reported so far. */
  sent = 0;

  /** `send` returns false when there is no controller connection (the entries are dropped). */
  constructor(private readonly send: (content: { tasks: DirectTaskEntry[] }) => boolean) {}

  /** A direct request was answered: `received` in ms since the epoch, `started` and `completed` ISO, `bytes` of the reply, what it printed. */
  add(req: Message, received: number, started: string, completed: string, outcome: Outcome, bytes: number, output: DirectOutput | null = null): void {
    if (!this.enabled) return;
    this.q.push(req, received, started, completed, outcome, bytes, output);
    if (this.q.length >= TASK_REPORT_MAX * STRIDE) this.flush();
    else if (this.timer === null) this.timer = setTimeout(() => this.flush(), Math.max(0, this.lastAt + TASK_REPORT_MS - performance.now()));
  }

  /** The engine has nothing left to run: report now, unless a report went out less than the interval ago (the timer sends it). */
  idle(): void {
    if (this.q.length > 0 && performance.now() - this.lastAt >= TASK_REPORT_MS) this.flush();
  }

  /** Number of requests waiting to be reported. */
  get waiting(): number {
    return this.q.length / STRIDE;
  }

  flush(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    const q = this.q;
    if (q.length === 0) return;
    this.q = [];
    this.lastAt = performance.now();
    const tasks: DirectTaskEntry[] = [];
    for (let i = 0; i < q.length; i += STRIDE) {
      const req = q[i] as Message;
      const o = q[i + 4] as Outcome;
      const status = o.status === 'ok' || o.status === 'aborted' ? o.status : 'error';
      const t: DirectTaskEntry = {
        msg_id: req.header.msg_id,
        msg_type: req.header.msg_type,
        session: req.header.session,
        submitted: typeof req.header.date === 'string' ? req.header.date : null,
        received: new Date(q[i + 1] as number).toISOString(),
        started: q[i + 2] as string,
        completed: q[i + 3] as string,
        status,
        result_bytes: q[i + 5] as number,
        code: codeOf(req),
        label: labelOf(req.metadata),
      };
      const out = q[i + 6] as DirectOutput | null;
      if (out !== null) Object.assign(t, out); // only what was printed: most requests print nothing
      if (status === 'error') {
        t.ename = typeof o.ename === 'string' ? o.ename : 'Error';
        t.evalue = typeof o.evalue === 'string' ? o.evalue.slice(0, EVALUE_CHARS) : '';
      }
      tasks.push(t);
    }
    if (this.send({ tasks })) this.sent += tasks.length;
  }
}
