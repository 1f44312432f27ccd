/**
 * The generic batch launcher, driven with SLURM's own commands as its submit, cancel and status
 * commands and a small job template, on the real SLURM fixture (the batch systems it is meant
 * for, PBS, SGE and LSF, are not installed here). Needs root and the apt packages slurm-wlm and munge.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { EngineSetInfo } from 'multiengine';
import { alive } from '../../harness/fixtureProcesses.ts';
import { startSlurm, type SlurmCluster } from '../../harness/slurmCluster.ts';
import { startTestCluster, until, type TestCluster } from '../fixture.ts';

let slurm: SlurmCluster;
let tmp: string;
before(async () => {
  slurm = await startSlurm({ nodes: 1, cpusPerNode: 4 });
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'me-batch-test-'));
});
after(async () => {
  await slurm?.stop();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

/** A job script with every placeholder; `${...}` and `{{ }}` are the shell's and literal braces. */
const TEMPLATE = [
  '#!/bin/sh',
  '#SBATCH --job-name={job_name}',
  '#SBATCH --ntasks={n}',
  '#SBATCH --output={output}',
  'echo "job ${SLURM_JOB_ID} of {set} in {work_dir}, first id {first_id} {{literal braces}}"',
  'srun {engine_command}',
  '',
].join('\n');

function batchOptions(more: Record<string, unknown> = {}) {
  return {
    template: TEMPLATE,
    submit: ['sbatch'],
    cancel: ['scancel'],
    status: ['squeue', '-h', '-o', '%T', '-j'],
    running: '^(RUNNING|CONFIGURING|COMPLETING)$',
    pending: '^PENDING$',
    pollMs: 200,
    env: slurm.env,
    ...more,
  };
}

async function setInfo(tc: TestCluster, id: string): Promise<EngineSetInfo> {
  const set = (await tc.cluster.engineSets()).find((s) => s.id === id);
  assert.ok(set, `set ${id} is listed`);
  return set;
}

describe('batch launcher (with SLURM commands)', () => {
  test('a template from a file starts 2 engines in one job; stopping the set cancels the job and leaves nothing', async () => {
    const tc = await startTestCluster({ n: 0 });
    try {
      const file = path.join(tmp, 'job-template.sh');
      fs.writeFileSync(file, TEMPLATE);
      const { ids, set: setId } = await tc.rc.addEngineSet(2, { launcher: 'batch', launcherOptions: batchOptions({ template: file }) });
      assert.deepEqual(ids, [0, 1]);
      const set = await setInfo(tc, setId);
      assert.equal(set.launcher, 'batch');
      assert.equal(set.state, 'running');
      const jobId = set.job_id!;
      assert.match(jobId, /^\d+$/, 'the default jobIdPattern read "Submitted batch job N"');
      const jobs = await slurm.squeue(jobId);
      assert.deepEqual(
        jobs.map((j) => [j.name, j.state]),
        [[`multiengine-${setId}`, 'RUNNING']],
      );
      assert.deepEqual(await tc.rc.view().applySync(() => [process.env.SLURM_JOB_ID, Number(process.env.SLURM_PROCID)]), [
        [jobId, 0],
        [jobId, 1],
      ]);
      const pids = (await tc.rc.status()).engines.map((e) => e.pid);

      await until(async () => (await tc.cluster.output(setId)).includes('first id 0 {literal braces}'), 10_000, "the job script's echo in output()");
      const out = await tc.cluster.output(setId);
      assert.match(out, new RegExp(`^\\$ sbatch \\S+/job\\.sh\\nSubmitted batch job ${jobId}\\n`));
      assert.ok(out.includes(`job ${jobId} of ${setId} in `), out);

      await tc.cluster.stopEngineSet(setId);
      const stopped = await setInfo(tc, setId);
      assert.equal(stopped.state, 'ended');
      assert.equal(stopped.reason, 'stopped');
      assert.deepEqual(await slurm.squeue(jobId), [], 'the job has left the queue');
      assert.deepEqual(pids.filter(alive), [], 'no engine process is left');
      assert.match(await tc.cluster.output(setId), new RegExp(`\\n\\$ scancel ${jobId}\\n`));
    } finally {
      await tc.stop();
    }
  });

  test('a job cancelled from outside ends the set: the status command no longer lists it', async () => {
    const tc = await startTestCluster({ n: 0 });
    try {
      const { set: setId } = await tc.rc.addEngineSet(2, { launcher: 'batch', launcherOptions: batchOptions() });
      const jobId = (await setInfo(tc, setId)).job_id!;
      assert.equal((await slurm.run(['scancel', jobId])).code, 0);
      await until(async () => (await setInfo(tc, setId)).state === 'ended', 10_000, 'the set to end');
      assert.equal((await setInfo(tc, setId)).reason, `job ${jobId} is neither running nor pending (squeue -h -o %T -j ${jobId} printed nothing)`);
      await until(async () => (await tc.rc.status()).engines.every((e) => e.state === 'dead'), 10_000, 'its engines to be dead');
      const engines = (await tc.rc.status()).engines;
      assert.equal(engines.length, 2);
      for (const e of engines) assert.match(e.reason ?? '', new RegExp(`${setId} ended: job ${jobId} is neither running nor pending|connection closed`));
    } finally {
      await tc.stop();
    }
  });

  test('bad options are named; a submit command that fails is quoted; nothing is queued', async () => {
    const tc = await startTestCluster({ n: 0 });
    try {
      const add = (options: Record<string, unknown>) => tc.cluster.addEngines(1, { launcher: 'batch', launcherOptions: options as never, timeoutMs: 10_000 });
      await assert.rejects(add({ submit: ['sbatch'] }), /batch launcher: option template is required/);
      await assert.rejects(add({ template: TEMPLATE }), /option submit is required/);
      await assert.rejects(add(batchOptions({ template: '#!/bin/sh\nsrun -N {nodes} {engine_command}\n' })), /unknown placeholder \{nodes\}; the placeholders are \{n\}, \{engine_command\}/);
      await assert.rejects(add(batchOptions({ template: path.join(tmp, 'no-such-template.sh') })), /no-such-template\.sh" cannot be read \(ENOENT\)/);
      await assert.rejects(add(batchOptions({ running: undefined })), /options running and pending are required with status/);
      await assert.rejects(add(batchOptions({ jobIdPattern: 'job \\d+' })), /option jobIdPattern needs a group/);
      await assert.rejects(add(batchOptions({ submit: ['sbatch', '--partition=nope'] })), /sbatch --partition=nope refused the job \(exited with code 1\): sbatch: error: invalid partition specified: nope/);
      await assert.rejects(add(batchOptions({ submit: ['/no/such/qsub'] })), /"\/no\/such\/qsub" was not found \(ENOENT\)/);
      assert.deepEqual(await slurm.squeue(), []);
    } finally {
      await tc.stop();
    }
  });
});
