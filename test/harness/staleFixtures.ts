/**
 * Leftovers of cluster fixtures whose test process was killed before any clean-up could run
 * (SIGKILL): every fixture names its namespaces and folders after its process id and marks its
 * daemons with it, so the next fixture to start can end what belongs to a process that no longer
 * exists. Whatever belongs to a live process is left alone.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { alive, killNow, pidsInNetns } from './fixtureProcesses.ts';

/** Set in the environment of the fixtures' daemons (and so of their jobs): the owning test process. */
export const OWNER_VAR = 'MULTIENGINE_FIXTURE_OWNER';

/** A fresh folder for one fixture of this process, under the system's temporary folder. */
export function fixtureDir(kind: 'hosts' | 'slurm'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `me-${kind}-${process.pid}-`));
}

/** The prefix of this process's namespace names: me<pid>x<instance>-<host>. */
export function namespacePrefix(instance: number): string {
  return `me${process.pid}x${instance}`;
}

const owned = (re: RegExp, name: string): number | null => {
  const m = re.exec(name);
  return m ? Number(m[1]) : null;
};

function ownerOf(pid: number): number | null {
  try {
    const kv = fs
      .readFileSync(`/proc/${pid}/environ`, 'latin1')
      .split('\0')
      .find((x) => x.startsWith(`${OWNER_VAR}=`));
    return kv ? Number(kv.slice(OWNER_VAR.length + 1)) : null;
  } catch {
    return null;
  }
}

/** Ends the processes, deletes the namespaces and removes the folders of fixtures whose owner is dead. */
export function reapStaleFixtures(): void {
  const dead = (owner: number | null): owner is number => owner !== null && owner !== process.pid && !alive(owner);
  const namespaces = fs.existsSync('/run/netns') ? fs.readdirSync('/run/netns').filter((n) => dead(owned(/^me(\d+)x\d+-/, n))) : [];
  const ids = namespaces.flatMap((n) => {
    try {
      return [`net:[${fs.statSync(`/run/netns/${n}`).ino}]`];
    } catch {
      return [];
    }
  });
  const marked = fs
    .readdirSync('/proc')
    .filter((n) => /^\d+$/.test(n))
    .map(Number)
    .filter((p) => dead(ownerOf(p)) && alive(p));
  killNow([...pidsInNetns(ids), ...marked]);
  for (const n of namespaces) spawnSync('ip', ['netns', 'del', n], { stdio: 'ignore' });
  for (const d of fs.readdirSync(os.tmpdir())) {
    if (dead(owned(/^me-(?:hosts|slurm)-(\d+)-/, d))) fs.rmSync(path.join(os.tmpdir(), d), { recursive: true, force: true });
  }
}
