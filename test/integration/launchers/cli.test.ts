/**
 * `multiengine` with launchers, run as a user would (issue 13): start through the real mpi
 * launcher (OpenMPI's mpiexec, Python engines with mpi4py), status with engine sets, engines
 * added to and stopped in a running cluster, a profile's cluster.json used by a flagless start,
 * and the errors for a bad cluster.json and a flag of the wrong launcher. Needs root, openmpi-bin
 * and python3-mpi4py (test/README.md); the fixture fails saying what is missing.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Client, connectionFilePath } from 'multiengine';
import { alive, runCommand, stopPids, type CommandResult } from '../../harness/fixtureProcesses.ts';
import { mpiEnv, mpiPython, requireMpi } from '../../harness/mpi.ts';
import { REPO_ROOT, startHosts, type Hosts } from '../../harness/netHosts.ts';
import { eventually } from '../../harness/poll.ts';

const bin = path.join(REPO_ROOT, 'bin/multiengine.js');
/** Each engine's sum over its MPI world of rank + 1: n(n+1)/2 when the engines are the ranks of one mpiexec. */
const ALLREDUCE = 'from mpi4py import MPI\nc = MPI.COMM_WORLD\ns = c.allreduce(c.Get_rank() + 1)\nsize = c.Get_size()';

let dir: string;
/** Every pid a test saw, so nothing outlives the file even when an assertion fails midway. */
const seen = new Set<number>();

function cli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<CommandResult> {
  return runCommand([process.execPath, bin, ...args, '--dir', dir], { env: { ...mpiEnv(), ...env }, timeoutMs: 90_000 });
}

/** Runs the CLI and asserts it succeeded, returning its stdout. */
async function ok(args: string[]): Promise<string> {
  const r = await cli(args);
  assert.equal(r.code, 0, `multiengine ${args.join(' ')}: exit ${r.code}\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

async function connect(profile: string): Promise<Client> {
  const rc = await Client.connect({ file: connectionFilePath('client', profile, dir) });
  seen.add(rc.controllerPid);
  for (const e of rc.engines) seen.add(e.pid);
  return rc;
}

async function pidsOf(rc: Client, ids: number[]): Promise<number[]> {
  await rc.refreshEngines();
  const pids = rc.engines.filter((e) => ids.includes(e.id)).map((e) => e.pid);
  for (const p of pids) seen.add(p);
  return pids;
}

before(async () => {
  await requireMpi();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'multiengine-cli-launchers-'));
});

after(async () => {
  const left = await stopPids([...seen].filter(alive));
  fs.rmSync(dir, { recursive: true, force: true });
  assert.deepEqual(left, [], 'processes left behind');
});

describe('the mpi launcher from the command line', () => {
  test('start --launcher mpi, status shows the set, engines adds set-2 (ids 2, 3), --output, --stop, stop leaves nothing', async () => {
    const started = await ok(['start', '--daemon', '-n', '2', '--launcher', 'mpi', '--engine', 'python', '--python', mpiPython, '--profile', 'T']);
    assert.match(started, /^cluster "T" up: controller pid \d+, 2 python engines through the mpi launcher$/m);
    const rc = await connect('T');
    try {
      const view = rc.view();
      await view.execute(ALLREDUCE);
      assert.deepEqual(await view.pull('s'), [3, 3], 'the two engines are the ranks of one MPI world');

      const status = await ok(['status', '--profile', 'T']);
      assert.match(status, /^cluster "T": controller pid \d+, 2 engines, listening on 127\.0\.0\.1:\d+ \(this machine only\)$/m);
      assert.match(status, /^set\s+launcher\s+state\s+job\s+engines\s+hosts\s+reason$/m);
      assert.match(status, new RegExp(`^set-1\\s+mpi\\s+running\\s+-\\s+0-1 \\(2/2\\)\\s+${os.hostname()}$`, 'm'));
      assert.match(status, new RegExp(`^1\\s+idle\\s+python\\s+\\d+\\s+${os.hostname()}\\s+0\\s+0$`, 'm'));

      const added = await ok(['engines', '-n', '2', '--launcher', 'mpi', '--engine', 'python', '--python', mpiPython, '--profile', 'T']);
      assert.match(added, /^set-2: 2 python engines through the mpi launcher, ids 2-3 on \S+$/m);
      assert.match(added, /^stop it with: multiengine engines --stop set-2 --profile T$/m);
      const newPids = await pidsOf(rc, [2, 3]);
      assert.equal(newPids.length, 2);
      // The new set is an MPI world of its own.
      await view.execute(ALLREDUCE, { targets: [2, 3] });
      assert.deepEqual(await view.pull(['s', 'size'], { targets: [2, 3] }), [[3, 2], [3, 2]]);
      assert.match(await ok(['status', '--profile', 'T']), /^set-2\s+mpi\s+running\s+-\s+2-3 \(2\/2\)/m);

      const output = await ok(['engines', '--output', 'set-2', '--profile', 'T']);
      assert.match(output, /^\$ \S*mpiexec -n 2 .*--engine-set set-2 --id-base 2/m);

      assert.match(await ok(['engines', '--stop', 'set-2', '--profile', 'T']), /^set-2 stopped$/m);
      assert.ok(await eventually(() => newPids.every((p) => !alive(p)), 15_000), 'the engines of set-2 are gone');
      const after2 = await ok(['status', '--profile', 'T']);
      assert.match(after2, /^set-2\s+mpi\s+ended\s+/m);
      assert.match(after2, /^set-1\s+mpi\s+running\s+/m);
      assert.deepEqual(await view.pull('s', { targets: [0, 1] }), [3, 3], 'set-1 kept its engines and namespaces');

      const unknown = await cli(['engines', '--stop', 'set-9', '--profile', 'T']);
      assert.equal(unknown.code, 1);
      assert.match(unknown.stderr, /no engine set "set-9"; the sets are set-1, set-2/);
      const both = await cli(['engines', '--stop', 'set-1', '-n', '2', '--profile', 'T']);
      assert.equal(both.code, 2);
      assert.match(both.stderr, /^multiengine engines: --stop takes only a set id \(and --profile, --dir\), not -n/);
    } finally {
      rc.close();
    }
    const pids = [...seen];
    assert.match(await ok(['stop', '--profile', 'T']), /cluster "T" stopped/);
    assert.ok(await eventually(() => pids.every((p) => !alive(p)), 15_000), `left: ${pids.filter(alive).join(', ')}`);
  });

  test("a flagless start takes the profile's cluster.json (launcher mpi, n, its options); engines too, its flags winning", async () => {
    const saved = await ok(['profile', '--profile', 'F', '-n', '2', '--launcher', 'mpi', '--engine', 'python', '--python', mpiPython, '--mpi-args', '--tag-output', '--launcher-option', 'mpiexec=/usr/bin/mpiexec.openmpi']);
    const file = path.join(dir, 'profile_F', 'cluster.json');
    assert.match(saved, new RegExp(`^saved ${file}:$`, 'm'));
    assert.deepEqual(JSON.parse(fs.readFileSync(file, 'utf8')), {
      n: 2,
      engine: 'python',
      python: mpiPython,
      launcher: 'mpi',
      launcherOptions: { args: ['--tag-output'], mpiexec: '/usr/bin/mpiexec.openmpi' },
    });
    assert.equal(fs.statSync(file).mode & 0o777, 0o600);

    const started = await ok(['start', '--daemon', '--profile', 'F']);
    assert.match(started, /^cluster "F" up: controller pid \d+, 2 python engines through the mpi launcher$/m);
    const rc = await connect('F');
    try {
      assert.deepEqual(rc.ids, [0, 1]);
      assert.match(await ok(['engines', '--output', 'set-1', '--profile', 'F']), /^\$ \/usr\/bin\/mpiexec\.openmpi -n 2 -x MULTIENGINE_CONNECTION --tag-output \S+python3 /m);
      // -n wins over the file's 2; the launcher and its options are the file's.
      assert.match(await ok(['engines', '-n', '1', '--profile', 'F']), /^set-2: 1 python engine through the mpi launcher, ids 2 on \S+$/m);
      await pidsOf(rc, [2]);
      assert.match(await ok(['engines', '--output', 'set-2', '--profile', 'F']), /^\$ \/usr\/bin\/mpiexec\.openmpi -n 1 -x MULTIENGINE_CONNECTION --tag-output /m);
      assert.match(await ok(['status', '--profile', 'F']), /^set-2\s+mpi\s+running\s+-\s+2 \(1\/1\)/m);
    } finally {
      rc.close();
    }
    await ok(['stop', '--profile', 'F']);
  });

  test("a launcher that refuses: start exits 1 quoting mpiexec, and leaves no controller behind", async () => {
    const r = await cli(['start', '--daemon', '-n', '2', '--launcher', 'mpi', '--mpi-args', '--no-such-mpiexec-flag', '--profile', 'refused']);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stderr, /^multiengine: .*set-1 ended before all its engines registered: mpiexec exited with code \d+/);
    assert.match(r.stderr, /--no-such-mpiexec-flag/);
    const status = await cli(['status', '--profile', 'refused']);
    assert.equal(status.code, 1);
    assert.match(status.stderr, /no connection file at .* \(is a cluster running\?/);
  });

  test('a bad cluster.json is an error naming the file and the field, and nothing starts', async () => {
    const file = path.join(dir, 'profile_bad', 'cluster.json');
    fs.mkdirSync(path.dirname(file), { recursive: true });
    for (const [text, why] of [
      ['{"n": -1, "launcher": "mpi"}', 'n must be a whole number of engines, got -1'],
      ['{"launcher": "mpi", "engines": 4}', 'unknown setting "engines"'],
      ['{"launcher": "mpi", "launcherOptions": ["-x"]}', 'launcherOptions must be an object of launcher options, got ["-x"]'],
      ['{"n": 2, "engine": "fortran"}', 'engine must be one of node, python, got "fortran"'],
      ['{"n": 2,', 'is not valid JSON'],
    ]) {
      fs.writeFileSync(file, text);
      for (const command of ['start', 'engines']) {
        const r = await cli([command, ...(command === 'start' ? ['--daemon'] : []), '--profile', 'bad']);
        assert.equal(r.code, 1, `${command} with ${text}: ${r.stdout}${r.stderr}`);
        assert.ok(r.stderr.startsWith(`multiengine: ${file}`) && r.stderr.includes(why), `${command} with ${text}: ${r.stderr}`);
      }
    }
    assert.deepEqual(fs.readdirSync(path.dirname(file)), ['cluster.json'], 'no controller started (no connection files)');
  });

  test('a flag of another launcher is an error naming both, and nothing starts', async () => {
    const r = await cli(['start', '--daemon', '-n', '2', '--launcher', 'mpi', '--slurm-time', '1:00', '--profile', 'wrong']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^multiengine start: --slurm-time is an option of the slurm launcher, but this cluster uses --launcher mpi\n/);
    assert.match(r.stderr, /usage: multiengine start /);
    // The launcher named by the profile's cluster.json counts too.
    const file = path.join(dir, 'profile_mpi', 'cluster.json');
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, '{"launcher": "mpi", "n": 2}');
    const e = await cli(['engines', '--ssh-hosts', 'hostb:2', '--profile', 'mpi']);
    assert.equal(e.code, 2);
    assert.match(e.stderr, new RegExp(`--ssh-hosts is an option of the ssh launcher, but this cluster uses the launcher mpi of ${file}; add --launcher ssh`));
    assert.equal(fs.existsSync(path.join(dir, 'profile_wrong')), false, 'nothing written for the profile');
  });
});

describe('a controller on a network address', () => {
  let hosts: Hosts;
  before(async () => {
    hosts = await startHosts({ names: ['hosta'] });
  });
  after(() => hosts?.stop());

  test('status says it listens beyond loopback, and that messages are signed', async () => {
    const address = hosts.host('hosta').address;
    const run = (args: string[]) => hosts.exec('hosta', [process.execPath, bin, ...args, '--profile', 'net', '--dir', dir], { timeoutMs: 60_000 });
    const started = await run(['start', '--daemon', '-n', '1', '--ip', address]);
    assert.equal(started.code, 0, started.stderr);
    const status = await run(['status']);
    assert.equal(status.code, 0, status.stderr);
    assert.match(status.stdout, new RegExp(`^cluster "net": controller pid \\d+, 1 engine, listening on ${address.replaceAll('.', '\\.')}:\\d+ \\(reachable from other hosts; messages are HMAC-signed\\)$`, 'm'));
    assert.match(status.stdout, /^0\s+idle\s+node\s+\d+\s+hosta\s+0\s+0$/m);
    const stopped = await run(['stop']);
    assert.equal(stopped.code, 0, stopped.stderr);
  });
});
