/**
 * What the cluster fixtures need from the machine, checked before they start anything: root,
 * and the tools of the field installed by apt. A missing piece throws an Error naming it and
 * the apt package that provides it: the fixtures never skip quietly.
 */
import fs from 'node:fs';

/** The apt packages the cluster fixtures use (also installed by .ci/run). */
export const CLUSTER_APT_PACKAGES = ['slurm-wlm', 'munge', 'openmpi-bin', 'openssh-server', 'python3-mpi4py'] as const;

export function aptHint(pkg: string): string {
  return `install it with: apt-get install -y --no-install-recommends ${pkg}`;
}

/** Throws unless this process runs as root; `why` says what needs it. */
export function requireRoot(fixture: string, why: string): void {
  if (process.getuid?.() !== 0) throw new Error(`${fixture} needs root (${why}); run the tests as root`);
}

/** Throws unless `file` is an executable file; the message names the apt package that has it. */
export function requireExecutable(file: string, pkg: string, fixture: string): void {
  try {
    fs.accessSync(file, fs.constants.X_OK);
  } catch {
    throw new Error(`${fixture} needs ${file}, which is missing: ${aptHint(pkg)}`);
  }
}

/** The last `lines` lines of a log file, for an error that says why a daemon stopped. */
export function logTail(file: string, lines = 12): string {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return `(no log at ${file})`;
  }
  const tail = text.trimEnd().split('\n').slice(-lines).join('\n');
  return tail === '' ? `(${file} is empty)` : tail;
}
