/**
 * The start of 16 engines through a launcher (`npm run bench -- --hosts`): from Cluster.start to
 * the first `apply` answered by all 16, as local processes, through mpiexec (OpenMPI, 16 ranks on
 * this machine) and through a real SLURM cluster (test/harness/slurmCluster.ts: sbatch, then
 * srun on its slurmd nodes), with Debian's python3 for Python engines, as ipyparallel's
 * launchers get in ipp_driver.py.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Cluster } from 'multiengine';
import { MPI_ENV, mpiPython, requireMpi } from '../test/harness/mpi.ts';
import { startSlurm, type SlurmCluster } from '../test/harness/slurmCluster.ts';
import { CODE, type BenchKind, type BenchOptions } from './scenarios.ts';
import { figure } from './stats.ts';

/** 'local' is the baseline: what a launcher adds is its time less local's. */
export type BenchLauncher = 'local' | 'mpi' | 'slurm';
export const BENCH_LAUNCHERS: readonly BenchLauncher[] = ['local', 'mpi', 'slurm'];
const N = 16;

/**
 * What the launchers' tools need in this process's environment, which the controller (ours) and
 * ipyparallel's driver inherit: OpenMPI's root and oversubscription variables, the SLURM
 * cluster's SLURM_CONF. Resolves with a stop for what it started.
 */
export async function prepareLaunchers(launchers: readonly BenchLauncher[]): Promise<{ slurm?: SlurmCluster; stop(): Promise<void> }> {
  if (launchers.includes('mpi')) {
    await requireMpi();
    Object.assign(process.env, MPI_ENV);
  }
  if (!launchers.includes('slurm')) return { stop: async () => {} };
  // 16 tasks must fit at once: 4 nodes of 4 CPUs (a bigger request would pend forever).
  const slurm = await startSlurm({ nodes: 4, cpusPerNode: 4 });
  Object.assign(process.env, slurm.env);
  return { slurm, stop: () => slurm.stop() };
}

export async function launcherStarts(kinds: readonly BenchKind[], launchers: readonly BenchLauncher[], o: BenchOptions, slurm?: SlurmCluster): Promise<void> {
  for (const launcher of launchers) {
    const launcherOptions: Record<string, string> = launcher === 'slurm' ? { partition: slurm!.partition } : {};
    for (const kind of kinds) {
      // Each sample ends at the first `apply` answered by all; the stop after it is not timed.
      const once = async (): Promise<number> => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'multiengine-bench-'));
        try {
          const t = process.hrtime.bigint();
          const cluster = await Cluster.start({ n: N, engine: kind, python: mpiPython, dir, profile: 'bench', launcher, launcherOptions, engineTimeoutMs: 120_000 });
          try {
            const rc = await cluster.connect();
            const answers = await rc.view().applySync(CODE[kind].noop);
            const s = Number(process.hrtime.bigint() - t) / 1e9;
            rc.close();
            if (answers.length !== N) throw new Error(`${N} engines through ${launcher} should answer, ${answers.length} did`);
            return s;
          } finally {
            await cluster.stop();
          }
        } finally {
          fs.rmSync(dir, { recursive: true, force: true });
        }
      };
      const samples: number[] = [];
      for (let i = 0; i < (o.quick ? 1 : 3); i++) samples.push(await once());
      o.emit(figure(`start16_${launcher}`, kind, N, 's', samples));
    }
  }
}
