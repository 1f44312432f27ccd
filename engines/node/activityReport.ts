/**
 * Tells the controller about the work that reaches this engine on direct connections, which
 * the controller never sees (protocol section 13, engine_activity): sent when it changes, at
 * most every REPORT_INTERVAL_MS, at once after a quiet moment (so a request that starts then is
 * reported before its user code runs) and otherwise when the interval is up. Going idle is
 * reported at once when the controller was last told of work, before the reply goes out, so a
 * client that asks for status after its reply sees the engine idle.
 */
import type { ContentMap } from '../../core/protocol/messages.js';

export const REPORT_INTERVAL_MS = 20;
/** A request that ran this long may have been named by a heartbeat (heartbeat.running). */
const SEEN_BY_BEAT_MS = 5;

type Activity = ContentMap['engine_activity'];

export class ActivityReport {
  private lastAt = -Infinity;
  private last = '';
  /** The last report said a direct request runs or waits. */
  private lastBusy = false;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly snapshot: () => Activity,
    /** Sends the report; `urgent` when user code may block the event loop right after. */
    private readonly send: (content: Activity, urgent: boolean) => void,
  ) {}

  /** The direct work changed; `starting` when a request is about to run. */
  changed(starting = false): void {
    if (this.timer !== null) return;
    const wait = this.lastAt + REPORT_INTERVAL_MS - performance.now();
    if (wait <= 0) this.report(starting);
    else this.timer = setTimeout(() => this.report(false), wait);
  }

  /**
   * A direct request was answered, after running `ranMs` (call it before the reply is sent).
   * The controller may think the engine busy from the last report or, for a request that ran
   * long enough to meet a heartbeat, from a beat that said it runs.
   */
  finished(ranMs: number): void {
    const now = this.snapshot();
    if ((this.lastBusy || ranMs >= SEEN_BY_BEAT_MS) && now.direct_running === null && now.direct_queued === 0) {
      if (this.timer !== null) clearTimeout(this.timer);
      this.report(false);
    } else {
      this.changed();
    }
  }

  private report(urgent: boolean): void {
    this.timer = null;
    const content = this.snapshot();
    const text = JSON.stringify(content);
    if (text === this.last) return;
    this.last = text;
    this.lastBusy = content.direct_running !== null || content.direct_queued > 0;
    this.lastAt = performance.now();
    this.send(content, urgent);
  }
}
