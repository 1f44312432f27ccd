/**
 * Which MPI `mpiexec --version` describes: OpenMPI's must be known, or ranks on other hosts get no
 * connection information (-x); and how a rank-tagged output line names its rank (the Logs' engine).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import fs from 'node:fs';
import { mpiFlavor, rankLine } from '../../../core/launch/mpi.ts';
import { mpiEnv, mpiexec, requireMpi } from '../../harness/mpi.ts';

test("this machine's OpenMPI mpiexec is known as openmpi", async () => {
  await requireMpi({ python: false });
  const v = spawnSync(mpiexec, ['--version'], { encoding: 'utf8' });
  assert.equal(v.status, 0, v.stderr);
  assert.equal(mpiFlavor(v.stdout + v.stderr), 'openmpi', `from ${JSON.stringify(v.stdout)}`);
});

test('the words of other versions', () => {
  assert.equal(mpiFlavor('mpiexec (OpenRTE) 4.1.4\n\nReport bugs to http://www.open-mpi.org/community/help/'), 'openmpi');
  assert.equal(mpiFlavor('mpirun (Open MPI) 5.0.3'), 'openmpi');
  assert.equal(mpiFlavor('HYDRA build details:\n    Version:                                 4.0.2'), 'mpich');
  assert.equal(mpiFlavor('something else'), 'unknown');
});

test("a rank-tagged line of mpiexec's output names its rank (OpenMPI 4 and 5, MPICH); mpiexec's own lines none", () => {
  assert.deepEqual(rankLine('[1,3]<stdout>:hello there'), { rank: 3, text: 'hello there' });
  assert.deepEqual(rankLine('[1,0]<stderr>: Traceback'), { rank: 0, text: 'Traceback' });
  assert.deepEqual(rankLine('[12] from mpich'), { rank: 12, text: 'from mpich' });
  assert.equal(rankLine('--------------------------------------------------------------------------'), undefined);
  assert.equal(rankLine('mpiexec noticed that process rank 1 with PID 0 on node x exited'), undefined);
});

test("this machine's mpiexec (OpenMPI) and mpiexec.mpich tag each rank's lines as rankLine reads them", async () => {
  await requireMpi({ python: false });
  const script = 'echo out$OMPI_COMM_WORLD_RANK$PMI_RANK; echo err$OMPI_COMM_WORLD_RANK$PMI_RANK >&2';
  const runs = [spawnSync(mpiexec, ['-n', '2', '--tag-output', 'sh', '-c', script], { encoding: 'utf8', env: mpiEnv(), timeout: 60_000 })];
  if (fs.existsSync('/usr/bin/mpiexec.mpich')) runs.push(spawnSync('/usr/bin/mpiexec.mpich', ['-n', '2', '-prepend-rank', 'sh', '-c', script], { encoding: 'utf8', timeout: 60_000 }));
  for (const r of runs) {
    assert.equal(r.status, 0, r.stderr);
    const lines = (r.stdout + r.stderr).split('\n').filter(Boolean).map(rankLine);
    assert.deepEqual(lines.map((l) => l && `${l.rank}:${l.text}`).sort(), ['0:err0', '0:out0', '1:err1', '1:out1']);
  }
});
