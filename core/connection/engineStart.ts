/**
 * How a launcher tells an engine where its controller is and which id to take, without putting
 * the key on a command line (`ps` shows command lines to every user of every host):
 * the connection information travels in MULTIENGINE_CONNECTION or on the engine's first stdin
 * line, and an engine of an MPI or srun job takes `--id-base` plus its rank.
 * The Python engine reads the same variables (multiengine_python/command_line.py).
 */

/** The environment variable holding the engine connection information (its JSON). */
export const CONNECTION_ENV = 'MULTIENGINE_CONNECTION';

/** Where MPI implementations and SLURM put a process's rank, in the order they are believed: an mpiexec inside a SLURM job inherits SLURM_PROCID. */
export const RANK_ENV = ['OMPI_COMM_WORLD_RANK', 'PMIX_RANK', 'PMI_RANK', 'SLURM_PROCID'] as const;

/** This process's rank from its environment; throws naming the variables looked at when there is none. */
export function rankFromEnv(env: NodeJS.ProcessEnv = process.env): number {
  for (const name of RANK_ENV) {
    const v = env[name];
    if (v === undefined || v === '') continue;
    const rank = Number(v);
    if (!Number.isInteger(rank) || rank < 0) throw new Error(`${name} must be a rank (a whole number), got ${JSON.stringify(v)}`);
    return rank;
  }
  throw new Error(`--id-base needs a rank, and none of ${RANK_ENV.join(', ')} is set: start the engine with mpiexec or srun, or give --id`);
}
