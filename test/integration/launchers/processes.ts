/**
 * What the launcher tests read of processes, through /proc (the namespace hosts share this
 * machine's pid namespace, so a remote engine's pid is readable here): command lines, children.
 */
import fs from 'node:fs';

/** The command line of `pid` as its words, or null when it is gone. */
export function cmdline(pid: number): string[] | null {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
  } catch {
    return null;
  }
}

/** The live children of `pid`. */
export function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      // The field after the parenthesised command name: state, then the parent's pid.
      const stat = fs.readFileSync(`/proc/${name}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) out.push(Number(name));
    } catch {
      /* gone meanwhile */
    }
  }
  return out;
}

/** The pids among `pids` whose command line runs a Multiengine engine (node's main.js or the python engine). */
export function enginePids(pids: readonly number[]): number[] {
  return pids.filter((p) => (cmdline(p) ?? []).some((w) => w.endsWith('engines/node/main.js') || w.endsWith('multiengine_engine.py')));
}
