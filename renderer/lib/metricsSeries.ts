/**
 * The Plots view's data: the history main sent once, extended by each new sample, cut to the
 * window, in the column form uPlot draws (times in seconds; one array per series).
 */
import type { MetricsHistory, MetricsSample } from '../../preload/contract';

export interface EngineSeries {
  cpu: (number | null)[];
  rss: (number | null)[];
}

export class MetricsSeries {
  /** Seconds since the epoch, oldest first. */
  t: number[] = [];
  totalCpu: number[] = [];
  totalRss: number[] = [];
  readonly engines = new Map<number, EngineSeries>();
  windowMs = 10 * 60_000;

  /** Replaces everything with `h`. */
  load(h: MetricsHistory): void {
    this.windowMs = h.windowMs;
    this.t = h.t.map((ms) => ms / 1000);
    this.totalCpu = [...h.totalCpu];
    this.totalRss = [...h.totalRss];
    this.engines.clear();
    for (const e of h.engines) this.engines.set(e.id, { cpu: [...e.cpu], rss: [...e.rss] });
  }

  /** Appends one sample and drops what fell out of the window. */
  add(s: MetricsSample): void {
    const n = this.t.length;
    this.t.push(s.t / 1000);
    this.totalCpu.push(s.totalCpu);
    this.totalRss.push(s.totalRss);
    const seen = new Set<number>();
    s.ids.forEach((id, i) => {
      seen.add(id);
      let e = this.engines.get(id);
      if (!e) {
        e = { cpu: new Array<number | null>(n).fill(null), rss: new Array<number | null>(n).fill(null) };
        this.engines.set(id, e);
      }
      e.cpu.push(s.cpu[i]);
      e.rss.push(s.rss[i]);
    });
    for (const [id, e] of this.engines) {
      if (seen.has(id)) continue;
      e.cpu.push(null);
      e.rss.push(null);
    }
    this.trim(s.t - this.windowMs);
  }

  private trim(oldestMs: number): void {
    let drop = 0;
    while (drop < this.t.length && this.t[drop] * 1000 < oldestMs) drop++;
    if (drop === 0) return;
    this.t.splice(0, drop);
    this.totalCpu.splice(0, drop);
    this.totalRss.splice(0, drop);
    for (const [id, e] of this.engines) {
      e.cpu.splice(0, drop);
      e.rss.splice(0, drop);
      if (e.cpu.every((v) => v === null)) this.engines.delete(id);
    }
  }

  get ids(): number[] {
    return [...this.engines.keys()].sort((a, b) => a - b);
  }

  /** The latest value of a series (null when none). */
  static last(values: readonly (number | null)[]): number | null {
    for (let i = values.length - 1; i >= 0; i--) if (values[i] !== null) return values[i];
    return null;
  }
}
