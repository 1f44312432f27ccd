/**
 * Keeps the engine table fresh between events: polls the controller's status (at once, then
 * often while any engine is busy or load-balanced tasks wait unassigned, for queue, tasks done
 * and current task; otherwise once a sample period while engines report their CPU and memory,
 * which come with status, and rarely when none does) and shows each engine's own report.
 * Engines that send none (older ones) are sampled from /proc when they run on this host.
 * Hands each status to its owner (the cluster-wide numbers), and tells it when the controller is gone.
 */
import type { Client, StatusReport } from '../../core/index.js';
import type { Disposable } from '../../core/events/emitter.js';
import { EngineSampler } from './engineSampler.js';
import type { EngineTable } from './engineTable.js';

/** Status is polled this often while any engine is busy or tasks wait unassigned (queue, tasks done, current task). */
export const BUSY_POLL_MS = 200;
/** ...and this often otherwise (a safety net; events carry the changes). */
export const IDLE_POLL_MS = 2000;
/** CPU and memory are shown this often: engines' reports (through status), or samples of those that send none. */
export const SAMPLE_MS = 1000;
const RSS_HISTORY = 30;

export class EngineMonitor {
  private rc: Client | null = null;
  private pollTimer: ReturnType<typeof setTimeout> | null = null;
  private sampleTimer: ReturnType<typeof setInterval> | null = null;
  private readonly sampler = new EngineSampler();
  private readonly busySub: Disposable;
  /** Per engine id: the time (stats.at) of the report its row shows, so a report joins the memory history once. */
  private readonly shown = new Map<number, string>();

  constructor(
    private readonly table: EngineTable,
    /** Called once when the controller cannot be reached any more. */
    private readonly onLost: (rc: Client, e: Error) => void,
    /** Called with every status the controller answers. */
    private readonly onStatus: (rc: Client, s: StatusReport) => void = () => {},
  ) {
    this.busySub = table.onDidSeeBusyEngine(() => this.schedulePoll(BUSY_POLL_MS));
  }

  start(rc: Client): void {
    this.stop();
    this.rc = rc;
    this.showReports(rc);
    // At once: the cluster-wide numbers (load balancing) come with status only.
    this.schedulePoll(0);
    if (this.sampler.supported) this.sampleTimer = setInterval(() => void this.sample(), SAMPLE_MS);
    void this.sample();
  }

  stop(): void {
    this.rc = null;
    this.shown.clear();
    if (this.pollTimer) clearTimeout(this.pollTimer);
    if (this.sampleTimer) clearInterval(this.sampleTimer);
    this.pollTimer = null;
    this.sampleTimer = null;
  }

  dispose(): void {
    this.stop();
    this.busySub.dispose();
  }

  private schedulePoll(ms: number): void {
    if (!this.rc) return;
    if (this.pollTimer) {
      if (ms >= IDLE_POLL_MS) return;
      clearTimeout(this.pollTimer);
    }
    this.pollTimer = setTimeout(() => void this.poll(), ms);
  }

  private async poll(): Promise<void> {
    this.pollTimer = null;
    const rc = this.rc;
    if (!rc) return;
    let unassigned = 0;
    try {
      const s = await rc.status();
      unassigned = s.unassigned ?? 0;
      if (this.rc === rc) this.onStatus(rc, s);
    } catch (e) {
      if (this.rc !== rc) return;
      if (rc.isClosed) {
        this.stop();
        this.onLost(rc, e as Error);
        return;
      }
    }
    if (this.rc !== rc) return;
    this.showReports(rc);
    this.schedulePoll(this.table.anyBusy || unassigned > 0 ? BUSY_POLL_MS : this.idlePollMs(rc));
  }

  /** While engines report their numbers (they come with status), status is polled once a sample period. */
  private idlePollMs(rc: Client): number {
    return rc.engines.some((e) => e.stats !== undefined && e.state !== 'dead') ? SAMPLE_MS : IDLE_POLL_MS;
  }

  /** Each engine's latest own report of CPU and memory, on its row (a new report once into the history). */
  private showReports(rc: Client): void {
    const ids = new Set<number>();
    for (const r of this.table.engineRows()) {
      const e = rc.engine(r.id);
      const s = e?.stats;
      if (!s || r.state === 'dead' || e.pid !== r.pid) continue;
      ids.add(r.id);
      if (this.shown.get(r.id) === s.at) continue;
      this.shown.set(r.id, s.at);
      this.table.setRow({ ...r, cpu: Math.round(s.cpu * 10) / 10, rss: s.rss, rssHistory: [...r.rssHistory, s.rss].slice(-RSS_HISTORY) });
    }
    for (const id of this.shown.keys()) if (!ids.has(id)) this.shown.delete(id);
  }

  /** Samples, from /proc or ps, the engines on this host that report no numbers of their own. */
  private async sample(): Promise<void> {
    const rc = this.rc;
    const local = this.table.engineRows().filter((r) => r.state !== 'dead' && r.pid > 0 && r.host === this.table.hostname && !rc?.engine(r.id)?.stats);
    if (local.length === 0) return;
    const samples = await this.sampler.sample(local.map((r) => r.pid));
    for (const r of local) {
      const s = samples.get(r.pid);
      const cur = this.table.row(r.id);
      if (!s || !cur || cur.pid !== r.pid) continue;
      const history = [...cur.rssHistory, s.rss].slice(-RSS_HISTORY);
      this.table.setRow({ ...cur, cpu: s.cpu === null ? cur.cpu : Math.round(s.cpu * 10) / 10, rss: s.rss, rssHistory: history });
    }
  }
}
