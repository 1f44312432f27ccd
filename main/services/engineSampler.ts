/**
 * CPU % and resident memory of local engine processes: /proc/<pid>/stat on Linux, `ps`
 * elsewhere (Windows: not sampled). One read per engine per interval.
 */
import { execFile, execFileSync } from 'node:child_process';
import fs from 'node:fs/promises';

export interface ProcessSample {
  pid: number;
  /** Percent of one core since the previous sample (null on the first). */
  cpu: number | null;
  rss: number;
}

function sysconf(name: string, fallback: number): number {
  try {
    const n = Number(execFileSync('getconf', [name], { encoding: 'utf8', timeout: 2000 }).trim());
    return Number.isFinite(n) && n > 0 ? n : fallback;
  } catch {
    return fallback;
  }
}

/** utime+stime (ticks) and rss (pages) from the text of /proc/<pid>/stat. */
export function parseProcStat(text: string): { ticks: number; rssPages: number } | null {
  const close = text.lastIndexOf(')');
  if (close < 0) return null;
  // Fields after "(comm)": state is field 3; utime 14, stime 15, rss 24 (1-based).
  const f = text.slice(close + 2).trim().split(/\s+/);
  const utime = Number(f[14 - 3]);
  const stime = Number(f[15 - 3]);
  const rss = Number(f[24 - 3]);
  if (!Number.isFinite(utime) || !Number.isFinite(stime) || !Number.isFinite(rss)) return null;
  return { ticks: utime + stime, rssPages: rss };
}

export class EngineSampler {
  private readonly last = new Map<number, { ticks: number; at: number }>();
  private clockTicks = 0;
  private pageSize = 0;

  readonly supported = process.platform !== 'win32';

  async sample(pids: readonly number[]): Promise<Map<number, ProcessSample>> {
    const out = new Map<number, ProcessSample>();
    if (!this.supported || pids.length === 0) return out;
    if (process.platform === 'linux') await this.sampleProc(pids, out);
    else await this.samplePs(pids, out);
    for (const pid of this.last.keys()) if (!pids.includes(pid)) this.last.delete(pid);
    return out;
  }

  private async sampleProc(pids: readonly number[], out: Map<number, ProcessSample>): Promise<void> {
    if (this.clockTicks === 0) {
      this.clockTicks = sysconf('CLK_TCK', 100);
      this.pageSize = sysconf('PAGESIZE', 4096);
    }
    await Promise.all(
      pids.map(async (pid) => {
        let text: string;
        try {
          text = await fs.readFile(`/proc/${pid}/stat`, 'utf8');
        } catch {
          return;
        }
        const s = parseProcStat(text);
        if (!s) return;
        const now = performance.now();
        const prev = this.last.get(pid);
        this.last.set(pid, { ticks: s.ticks, at: now });
        const cpu = prev && now > prev.at ? (((s.ticks - prev.ticks) / this.clockTicks) * 100_000) / (now - prev.at) : null;
        out.set(pid, { pid, cpu: cpu === null ? null : Math.max(0, cpu), rss: s.rssPages * this.pageSize });
      }),
    );
  }

  private samplePs(pids: readonly number[], out: Map<number, ProcessSample>): Promise<void> {
    return new Promise((resolve) => {
      execFile('ps', ['-o', 'pid=,%cpu=,rss=', '-p', pids.join(',')], { timeout: 5000 }, (err, stdout) => {
        if (!err || stdout) {
          for (const line of String(stdout).split('\n')) {
            const [pid, cpu, rss] = line.trim().split(/\s+/).map(Number);
            if (Number.isFinite(pid) && Number.isFinite(rss)) out.set(pid, { pid, cpu: Number.isFinite(cpu) ? cpu : null, rss: rss * 1024 });
          }
        }
        resolve();
      });
    });
  }
}
