/** Process liveness by pid, for stopping only what we started and making sure it is gone. */
import fs from 'node:fs';

export function isAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
  return !isZombie(pid);
}

/** A zombie has exited but is not reaped yet; on Linux /proc tells. */
function isZombie(pid: number): boolean {
  if (process.platform !== 'linux') return false;
  try {
    const stat = readProcStat(pid);
    return stat !== null && / Z /.test(stat.slice(stat.lastIndexOf(')')));
  } catch {
    return false;
  }
}

function readProcStat(pid: number): string | null {
  try {
    return fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
}

/** Resolves true once `pid` is gone, false if it is still alive after `timeoutMs`. */
export async function waitForExit(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (let delay = 5; ; delay = Math.min(delay * 2, 100)) {
    if (!isAlive(pid)) return true;
    if (Date.now() >= deadline) return false;
    await new Promise((r) => setTimeout(r, delay));
  }
}

/** Resident memory of a live process in KiB, from /proc (Linux). */
export function rssKB(pid: number): number {
  const m = /VmRSS:\s+(\d+)\s+kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no VmRSS in /proc/${pid}/status`);
  return Number(m[1]);
}

/**
 * Unique set size of a live process in kB: its private pages (Private_Clean + Private_Dirty of
 * /proc/PID/smaps_rollup), what it costs beyond the pages it shares (e.g. the node binary's).
 */
export function ussKB(pid: number): number {
  const text = fs.readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
  let kb = 0;
  for (const m of text.matchAll(/^Private_(?:Clean|Dirty):\s+(\d+)\s+kB/gm)) kb += Number(m[1]);
  return kb;
}

/** CPU seconds (all threads) a live process has used so far, from /proc (Linux; clock ticks of 1/100 s). */
export function cpuSeconds(pid: number, which: 'user' | 'sys' | 'all' = 'all'): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const user = Number(fields[11]);
  const sys = Number(fields[12]);
  return (which === 'user' ? user : which === 'sys' ? sys : user + sys) / 100;
}

/** The parent of a live process (Linux, from /proc); null when it is gone. */
export function parentPid(pid: number): number | null {
  const stat = readProcStat(pid);
  return stat === null ? null : Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
}

/** Gives `pid` `graceMs` to exit, then SIGKILLs it and waits for it to be gone. Only for pids we started. */
export async function ensureGone(pid: number, graceMs: number): Promise<boolean> {
  if (await waitForExit(pid, graceMs)) return true;
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    /* already gone */
  }
  return waitForExit(pid, 2000);
}
