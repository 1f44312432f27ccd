/**
 * Adaptive polling for request/reply conversations. A process that has just sent a message
 * whose answer is likely to come soon keeps its event loop polling (epoll with a zero timeout,
 * through setImmediate) instead of sleeping, for at most a short window: a peer's write then
 * does not have to wake a sleeping process. On virtual machines that wake-up is the largest
 * cost of a round trip, paid by the writer inside write(): an inter-processor interrupt through
 * the hypervisor to a halted vCPU (docs/benchmarks.md has the profile).
 *
 * It polls only while the conversation is quick: when the previous answer came within the
 * window. A slow peer (a long computation, a client that thinks) gets no polling, so CPU is
 * spent only where it saves a wake-up, and an idle process sleeps as usual.
 *
 * MULTIENGINE_SPIN_US sets the window in microseconds (default 1000; 0 turns polling off).
 */
const DEFAULT_SPIN_US = 1000;

function windowMs(): number {
  const raw = process.env.MULTIENGINE_SPIN_US;
  const us = raw === undefined || raw === '' ? DEFAULT_SPIN_US : Number(raw);
  return Number.isFinite(us) && us > 0 ? Math.min(us, 100_000) / 1000 : 0;
}

const SPIN_MS = windowMs();
let until = 0;
let spinning = false;

function poll(): void {
  if (performance.now() < until) setImmediate(poll);
  else spinning = false;
}

function pollUntil(deadline: number): void {
  if (deadline > until) until = deadline;
  if (spinning) return;
  spinning = true;
  setImmediate(poll);
}

/**
 * An engine that was asked to (metadata.poll: the client is in a quick conversation) polls for
 * the next request for the window after its reply.
 */
export function pollAfterReply(): void {
  if (SPIN_MS > 0) pollUntil(performance.now() + SPIN_MS);
}

/** A client's side of a request/reply conversation with engines over direct connections. */
export class Conversation {
  private sentAt = -Infinity;
  private lastGap = Infinity;
  private waiting = false;

  /** We sent something; poll for the answer when the last one came quickly. */
  sent(): void {
    if (SPIN_MS === 0) return;
    const now = performance.now();
    this.sentAt = now;
    this.waiting = true;
    if (this.lastGap < SPIN_MS) pollUntil(now + SPIN_MS);
  }

  /** The last answer came within the window: polling for the next one pays off. */
  get isQuick(): boolean {
    return this.lastGap < SPIN_MS;
  }

  /** The answer (all replies of the request) came. */
  answered(): void {
    if (!this.waiting) return;
    this.waiting = false;
    this.lastGap = performance.now() - this.sentAt;
    until = 0; // stop polling: there is work now, and the next send decides again
  }
}
