/**
 * A test process that dies without calling stop(): starts two hosts and a one-node SLURM cluster
 * with a running job, prints (as one JSON line) their pids, namespaces and folders, then exits
 * (`exit`), throws (`throw`) or waits to be signalled (`wait`). The fixtures' exit hook must
 * leave nothing behind.
 */
import { startHosts } from '../netHosts.ts';
import { until } from '../poll.ts';
import { startSlurm } from '../slurmCluster.ts';

const mode = process.argv[2];
const hosts = await startHosts({ names: ['hosta', 'hostb'] });
const slurm = await startSlurm({ nodes: 1 });
const job = (await slurm.run(['sbatch', '--parsable', '-o', '/dev/null', '--wrap', 'exec sleep 300'])).stdout.trim();
await until(async () => (await slurm.squeue(job))[0]?.state === 'RUNNING', 30_000, `job ${job} running`);
await until(() => slurm.pids().length >= 5, 15_000, 'the job step and its task'); // munged, slurmctld, slurmscriptd, slurmd, the job
hosts.spawnOn('hosta', ['sleep', '300']);
await until(() => hosts.pidsOn('hosta').length === 2, 15_000, 'the sleep on hosta');
const pids = [...hosts.hosts.flatMap((h) => hosts.pidsOn(h)), ...slurm.pids()];
console.log(JSON.stringify({ pids, namespaces: hosts.hosts.map((h) => h.netnsName), dirs: [hosts.dir, slurm.dir] }));
if (mode === 'exit') process.exit(3);
if (mode === 'throw') throw new Error('a test failed midway');
setInterval(() => {}, 1000); // wait for a signal
