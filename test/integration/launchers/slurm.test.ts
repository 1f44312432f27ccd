/**
 * The slurm launcher on a real SLURM cluster (slurmctld, 2 slurmd nodes, munge; on this
 * machine, so the controller stays on 127.0.0.1 and this process is the client). The cluster's
 * SLURM_CONF reaches the launcher through its `env` option (sbatch hands it on to the job).
 * Needs root and the apt packages slurm-wlm and munge (test/README.md).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { EngineError, type AsyncResult, type EngineSetInfo } from 'multiengine';
import { controllerLogFile } from '../../../core/controller/logFile.js';
import { slurmEndReason } from '../../../core/launch/slurm.js';
import { alive } from '../../harness/fixtureProcesses.ts';
import { startSlurm, type SlurmCluster } from '../../harness/slurmCluster.ts';
import { engineInfo, startTestCluster, until, type TestCluster } from '../fixture.ts';

let slurm: SlurmCluster;
/** A 1-minute job started first and checked last: SLURM takes 60 to 90 s to enforce it, the other tests run meanwhile. */
let timeLimited: { tc: TestCluster; set: EngineSetInfo; running: AsyncResult<unknown> } | undefined;
before(async () => {
  slurm = await startSlurm({ nodes: 2, cpusPerNode: 4 });
  const tc = await startTestCluster({ n: 1, launcher: 'slurm', launcherOptions: slurmOptions({ time: '1' }) });
  const running = tc.rc.view(0).execute('await new Promise((r) => setTimeout(r, 300_000))') as AsyncResult<unknown>;
  running.catch(() => {});
  timeLimited = { tc, set: await slurmSet(tc), running };
});
after(async () => {
  await timeLimited?.tc.stop();
  await slurm?.stop();
});

function slurmOptions(more: Record<string, string> = {}) {
  return { env: slurm.env, partition: slurm.partition, ...more };
}

/** The value of `name` in the environment of process `pid`, or undefined. */
function envOf(pid: number, name: string): string | undefined {
  try {
    const kv = fs.readFileSync(`/proc/${pid}/environ`, 'latin1').split('\0').find((x) => x.startsWith(`${name}=`));
    return kv?.slice(name.length + 1);
  } catch {
    return undefined;
  }
}

/** A process's command line ('' once it is gone). */
function cmdline(pid: number): string {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    return '';
  }
}

/** The live processes of job `jobId` on this SLURM cluster (its tasks: they carry SLURM_JOB_ID). */
function jobPids(jobId: string): number[] {
  return slurm.pids().filter((p) => envOf(p, 'SLURM_JOB_ID') === jobId);
}

async function slurmSet(tc: TestCluster): Promise<EngineSetInfo> {
  const set = (await tc.cluster.engineSets()).find((s) => s.launcher === 'slurm');
  assert.ok(set, 'a slurm engine set is listed');
  return set;
}

describe('slurm launcher', () => {
  test('4 node engines: ids are the ranks, one job listed in squeue while it runs, engine stdout in output(), gone after cluster.stop()', async () => {
    const tc = await startTestCluster({ n: 4, launcher: 'slurm', launcherOptions: slurmOptions() });
    let stopped = false;
    try {
      assert.deepEqual(tc.cluster.ids, [0, 1, 2, 3]);
      const set = await slurmSet(tc);
      assert.equal(set.state, 'running');
      assert.deepEqual(set.engines, [0, 1, 2, 3]);
      const jobId = set.job_id;
      assert.match(jobId ?? '', /^\d+$/);
      const jobs = await slurm.squeue(jobId);
      assert.equal(jobs.length, 1);
      assert.equal(jobs[0].state, 'RUNNING');
      assert.equal(jobs[0].name, `multiengine-${set.id}`);

      const ranks = await tc.rc.view().applySync(() => [Number(process.env.SLURM_PROCID), process.env.SLURM_JOB_ID]);
      assert.deepEqual(ranks, [0, 1, 2, 3].map((r) => [r, jobId]));
      const pids = (await tc.rc.status()).engines.map((e) => e.pid);
      for (const pid of pids) assert.equal(envOf(pid, 'SLURM_JOB_ID'), jobId, `engine pid ${pid} runs in job ${jobId}`);

      await assert.rejects(tc.cluster.restartEngine(1), (e: Error) => /engine 1 is part of set-1, started by the slurm launcher/.test(e.message) && /allocation owns their processes/.test(e.message));

      // Past the engine's own capture of console output: straight to its process's stdout, the job's output file.
      await tc.rc.view(2).execute('require("fs").writeSync(1, "engine 2 wrote this to its stdout\\n")', { block: true });
      await until(async () => (await tc.cluster.output(set.id)).includes('engine 2 wrote this to its stdout'), 10_000, "the engine's stdout line in cluster.output()");
      // srun --label names the task: the controller's log (and so the app's Logs) files the line under engine 2.
      const logFile = controllerLogFile('test', tc.dir);
      await until(() => /^\[engine 2\] engine 2 wrote this to its stdout$/m.test(fs.readFileSync(logFile, 'utf8')), 10_000, "engine 2's line in the controller's log");
      const output = await tc.cluster.output(set.id);
      const script = /^\$ sbatch --parsable (\S+\/job\.sh)\n/.exec(output)?.[1];
      assert.ok(script, output);
      // The key travels in sbatch's environment: never in the job script or on a command line.
      const key = (JSON.parse(fs.readFileSync(tc.cluster.engineConnectionFile, 'utf8')) as { key: string }).key;
      assert.ok(key.length >= 16);
      const text = fs.readFileSync(script, 'utf8');
      assert.match(text, /^#!\/bin\/sh\n#SBATCH --job-name=multiengine-set-1\n#SBATCH --ntasks=4\n/);
      assert.match(text, /\nexec srun \S+.* --engine-set set-1 --id-base 0\n$/);
      assert.ok(!text.includes(key), 'the job script holds no key');
      const jobProcesses = jobPids(jobId!);
      assert.ok(jobProcesses.length >= 4, 'the job\'s tasks are found');
      for (const pid of [...pids, ...jobProcesses]) assert.ok(!cmdline(pid).includes(key), `no key on the command line of pid ${pid}`);
      assert.ok(output.includes(`slurm-${jobId}.out ---`), output);

      await tc.stop();
      stopped = true;
      assert.deepEqual(await slurm.squeue(jobId), [], 'the job has left the queue once cluster.stop() resolved');
      assert.deepEqual(pids.filter(alive), [], 'no engine process is left');
      await until(() => jobPids(jobId!).length === 0, 10_000, `job ${jobId}'s processes to end`);
    } finally {
      if (!stopped) await tc.stop();
    }
  });

  test('4 python engines: ids are the ranks; what they write to stdout is in cluster.output()', async () => {
    const tc = await startTestCluster({ n: 4, engine: 'python', launcher: 'slurm', launcherOptions: slurmOptions() });
    try {
      assert.deepEqual(tc.cluster.ids, [0, 1, 2, 3]);
      const view = tc.rc.view();
      await view.execute('import os\nrank = int(os.environ["SLURM_PROCID"])\nos.write(1, b"python rank %d on stdout\\n" % rank)', { block: true });
      assert.deepEqual(await view.get('rank'), [0, 1, 2, 3]);
      const set = await slurmSet(tc);
      assert.equal(set.engine, 'python');
      await until(async () => {
        const out = await tc.cluster.output(set.id);
        return [0, 1, 2, 3].every((r) => out.includes(`python rank ${r} on stdout`));
      }, 10_000, 'every rank\'s line in cluster.output()');
    } finally {
      await tc.stop();
    }
  });

  test('scancel of the job from outside fails a running request with EngineError and ends the set with the reason', async () => {
    const tc = await startTestCluster({ n: 2, launcher: 'slurm', launcherOptions: slurmOptions() });
    try {
      const set = await slurmSet(tc);
      const jobId = set.job_id!;
      const running = tc.rc.view(0).execute('await new Promise((r) => setTimeout(r, 30_000))') as AsyncResult<unknown>;
      await until(async () => (await engineInfo(tc.rc, 0)).current_task != null, 5000, 'engine 0 to run the 30 s request');
      const c = await slurm.run(['scancel', jobId]);
      assert.equal(c.code, 0, c.stderr);
      // SLURM kills the tasks as it cancels: the controller may see engine 0's connection close before the job leaves squeue.
      await assert.rejects(running, (e: unknown) => e instanceof EngineError && e.engineId === 0);
      await until(async () => (await slurmSet(tc)).state === 'ended', 10_000, 'the set to be marked ended');
      const ended = await slurmSet(tc);
      assert.match(ended.reason ?? '', new RegExp(`^job ${jobId} cancelled`));
      assert.ok(ended.ended);
      await until(() => jobPids(jobId).length === 0, 10_000, `job ${jobId}'s processes to end`);
    } finally {
      await tc.stop();
    }
  });

  test('a job that cannot start pends with squeue\'s reason; when the engines time out the job is cancelled', async () => {
    const tc = await startTestCluster({ n: 0 });
    try {
      // 2 nodes of 4 CPUs: 9 tasks wait in the queue for good.
      const adding = tc.cluster.addEngines(9, { launcher: 'slurm', launcherOptions: slurmOptions(), timeoutMs: 4000 });
      adding.catch(() => {});
      // Its reason is "submitted" until squeue first lists the job, then squeue's own.
      await until(async () => /^pending: \w+/.test((await tc.cluster.engineSets())[0]?.reason ?? ''), 4000, 'the set to pend with squeue\'s reason');
      const pending = (await tc.cluster.engineSets())[0];
      assert.equal(pending.state, 'pending');
      assert.equal((await slurm.squeue(pending.job_id))[0]?.state, 'PENDING');
      await assert.rejects(adding, /engines 0, 1, .*, 8 of set-1 did not register within 4 s \(the slurm launcher says: pending, pending: \w+\)/);
      // The request is answered as the set starts stopping; the cancel follows.
      await until(async () => (await tc.cluster.engineSets())[0].state === 'ended', 10_000, 'the set to end');
      assert.deepEqual(await slurm.squeue(pending.job_id), [], 'the pending job was cancelled');
      assert.match(await tc.cluster.output(pending.id), new RegExp(`\\n\\$ scancel ${pending.job_id}\\n`));
    } finally {
      await tc.stop();
    }
  });

  test('sbatch refusing (a bad partition, a bad time) rejects addEngines quoting sbatch; bad options name themselves', async () => {
    const tc = await startTestCluster({ n: 0 });
    try {
      await assert.rejects(tc.cluster.addEngines(2, { launcher: 'slurm', launcherOptions: slurmOptions({ partition: 'nosuchpartition' }), timeoutMs: 20_000 }), (e: Error) =>
        /sbatch --parsable refused the job \(exited with code 1\): sbatch: error: invalid partition specified: nosuchpartition/.test(e.message),
      );
      await assert.rejects(tc.cluster.addEngines(2, { launcher: 'slurm', launcherOptions: slurmOptions({ time: 'banana' }), timeoutMs: 20_000 }), /sbatch: error: Invalid --time specification/);
      const sets = await tc.cluster.engineSets();
      assert.deepEqual(
        sets.map((s) => [s.launcher, s.state]),
        [
          ['slurm', 'ended'],
          ['slurm', 'ended'],
        ],
      );
      assert.match(sets[0].reason ?? '', /launch failed: .*invalid partition specified: nosuchpartition/);
      assert.match(await tc.cluster.output(sets[0].id), /sbatch: error: Batch job submission failed: Invalid partition name specified/);
      await assert.rejects(tc.cluster.addEngines(1, { launcher: 'slurm', launcherOptions: { partiton: 'debug' } }), /unknown option partiton for the slurm launcher/);
      await assert.rejects(tc.cluster.addEngines(1, { launcher: 'slurm', launcherOptions: { extra: '--mem=1G' } }), /option extra must be a list of #SBATCH lines/);
      await assert.rejects(tc.cluster.addEngines(1, { launcher: 'slurm', launcherOptions: { time: '1:00\nrm -rf /' } }), /option time must be one line/);
      assert.deepEqual((await slurm.squeue()).filter((j) => j.jobId !== timeLimited?.set.job_id), [], 'nothing was queued (but the time-limited job)');
    } finally {
      await tc.stop();
    }
  });
});

test('why a job ended, from scontrol show job', () => {
  // scontrol's lines for a job killed by its time limit, as SLURM 22.05 printed them for `sbatch --time=0:01` on the fixture.
  const timeout = 'JobId=7 JobName=wrap\n   JobState=TIMEOUT Reason=TimeLimit Dependency=(null)\n   Requeue=1 Restarts=0 BatchFlag=1 Reboot=0 ExitCode=0:15\n   RunTime=00:01:27 TimeLimit=00:01:00 TimeMin=N/A\n';
  assert.equal(slurmEndReason('7', timeout), 'job 7 killed by its time limit (Reason=TimeLimit, TimeLimit=00:01:00)');
  assert.equal(slurmEndReason('8', '   JobState=FAILED Reason=NonZeroExitCode Dependency=(null)\n   ExitCode=3:0\n'), 'job 8 failed (Reason=NonZeroExitCode, ExitCode=3:0)');
  assert.equal(slurmEndReason('9', '   JobState=SOMETHING_NEW Reason=None\n'), 'job 9 ended (SOMETHING_NEW)');
  assert.equal(slurmEndReason('10', ''), "job 10 has left SLURM's queue");
});

test('a job killed by its time limit fails a running request with EngineError and ends the set saying so', async () => {
  const { tc, set, running } = timeLimited!;
  await assert.rejects(running, (e: unknown) => e instanceof EngineError && e.engineId === 0);
  await until(async () => (await slurmSet(tc)).state === 'ended', 30_000, 'the set to be marked ended');
  assert.match((await slurmSet(tc)).reason ?? '', new RegExp(`^job ${set.job_id} killed by its time limit`));
});
