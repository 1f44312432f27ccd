/**
 * The engine's own report of its host, CPU and memory (heartbeat.stats), measured in the heart
 * worker: process.cpuUsage() and process.memoryUsage.rss() count the whole process from any
 * thread, so a main thread busy in user code is measured too.
 */
import os from 'node:os';
import { STATS_INTERVAL_MS, type EngineStats } from '../../core/protocol/messages.js';

export class ProcessStats {
  /** performance.now() and process.cpuUsage() of the previous report; none before the first. */
  private last: { at: number; cpu: NodeJS.CpuUsage } | undefined;

  /**
   * Stats when a report is due (the first beat, then about every STATS_INTERVAL_MS), else
   * undefined: one comparison per beat. Half a beat of slack, so that beats every second each
   * carry stats rather than every other one (timers fire a little early or late).
   */
  due(beatMs: number): EngineStats | undefined {
    const now = performance.now();
    if (this.last && now - this.last.at + beatMs / 2 < STATS_INTERVAL_MS) return undefined;
    const cpu = process.cpuUsage();
    // The first report covers the time since the process started.
    const since = this.last ?? { at: now - process.uptime() * 1000, cpu: { user: 0, system: 0 } };
    this.last = { at: now, cpu };
    const usedMs = (cpu.user - since.cpu.user + cpu.system - since.cpu.system) / 1000;
    const wallMs = now - since.at;
    return {
      host: os.hostname(),
      cpu: wallMs > 0 ? Math.round((usedMs / wallMs) * 1000) / 10 : 0,
      rss: process.memoryUsage.rss(),
      mem_total: os.totalmem(),
      load: os.loadavg()[0],
    };
  }
}
