/** Which MPI `mpiexec --version` describes: OpenMPI's must be known, or ranks on other hosts get no connection information (-x). */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { mpiFlavor } from '../../../core/launch/mpi.ts';
import { mpiexec, requireMpi } from '../../harness/mpi.ts';

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
