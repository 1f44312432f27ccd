/**
 * What OpenMPI's mpiexec needs on this machine for the mpi launcher tests: the environment that
 * lets it run as root and oversubscribe the 2 cores, Debian's Python (which has apt's mpi4py;
 * the pyenv python3 on PATH does not), and a check that both are installed.
 *
 * Stop an mpiexec with SIGTERM and wait: SIGKILL orphans its local ranks. mpiexec forwards each
 * rank's output as it comes: a line a rank writes in pieces (Python's print on the ranks' pty)
 * can interleave with another rank's, so have each rank write whole lines in one write.
 */
import { runCommand } from './fixtureProcesses.ts';
import { aptHint, requireExecutable } from './fixtureRequirements.ts';

const FIXTURE = 'the MPI fixture (test/harness/mpi.ts)';

/** Debian's python3, with python3-mpi4py. */
export const mpiPython = '/usr/bin/python3';
export const mpiexec = '/usr/bin/mpiexec';

/** What OpenMPI needs here: root allowed, more ranks than cores, and no colour codes (rank output is a pty). */
export const MPI_ENV = {
  OMPI_ALLOW_RUN_AS_ROOT: '1',
  OMPI_ALLOW_RUN_AS_ROOT_CONFIRM: '1',
  OMPI_MCA_rmaps_base_oversubscribe: '1',
  NO_COLOR: '1',
  NODE_DISABLE_COLORS: '1',
} as const;

/** `base` (this process's environment by default) with MPI_ENV added. */
export function mpiEnv(base: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  return { ...base, ...MPI_ENV };
}

/** mpiexec's options to start ranks on other hosts through ssh with this ssh_config. */
export function sshAgentArgs(sshConfig: string): string[] {
  return ['--mca', 'plm_rsh_agent', `ssh -F ${sshConfig}`];
}

/**
 * Throws unless OpenMPI's mpiexec and, when `python` (the default), mpi4py for mpiPython are
 * installed; resolves with mpiexec's version line.
 */
export async function requireMpi(opts: { python?: boolean } = {}): Promise<string> {
  requireExecutable(mpiexec, 'openmpi-bin', FIXTURE);
  const v = await runCommand([mpiexec, '--version'], { env: mpiEnv() });
  const version = v.stdout.split('\n')[0] ?? '';
  if (v.code !== 0 || !/Open MPI|OpenRTE/i.test(version)) {
    throw new Error(`${FIXTURE} needs OpenMPI's mpiexec at ${mpiexec}, but \`mpiexec --version\` said ${JSON.stringify((version || v.stderr).trim())}: ${aptHint('openmpi-bin')} (and make it the mpiexec alternative)`);
  }
  if (opts.python ?? true) {
    requireExecutable(mpiPython, 'python3', FIXTURE);
    const py = await runCommand([mpiPython, '-c', 'import mpi4py; print(mpi4py.__version__)']);
    if (py.code !== 0) throw new Error(`${FIXTURE} needs mpi4py for ${mpiPython}, but importing it failed (${py.stderr.trim().split('\n').pop()}): ${aptHint('python3-mpi4py')}`);
  }
  return version.trim();
}
