/**
 * How launchers start engines, on both runtimes and a real controller: the connection comes
 * from MULTIENGINE_CONNECTION or the first stdin line (never a command line), the id from
 * --id-base plus the MPI/SLURM rank, the set from --engine-set; an engine fed on stdin exits
 * when stdin closes (an ssh that went away leaves nothing); bad input is named.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { startTestCluster, until, type TestCluster } from '../fixture.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const PYTHON = process.env.MULTIENGINE_PYTHON || 'python3';
const COMMAND = {
  node: [process.execPath, path.join(root, 'dist', 'engines', 'node', 'main.js')],
  python: [PYTHON, path.join(root, 'engines', 'python', 'multiengine_engine.py')],
} as const;
const READ_ENV = { node: 'String(process.env.MULTIENGINE_CONNECTION)', python: "str(__import__('os').environ.get('MULTIENGINE_CONNECTION'))" };

function run(kind: 'node' | 'python', args: string[], env: Record<string, string>, stdin: 'pipe' | 'ignore' = 'ignore'): ChildProcess & { output: () => string } {
  const [cmd, ...pre] = COMMAND[kind];
  const child = spawn(cmd, [...pre, ...args], { env: { ...process.env, ...env }, stdio: [stdin, 'pipe', 'pipe'] });
  let text = '';
  child.stdout!.on('data', (d) => (text += d));
  child.stderr!.on('data', (d) => (text += d));
  return Object.assign(child, { output: () => text });
}

function exited(child: ChildProcess): Promise<number | null> {
  return child.exitCode !== null ? Promise.resolve(child.exitCode) : new Promise((r) => child.once('exit', (code) => r(code)));
}

for (const kind of ['node', 'python'] as const) {
  describe(`${kind} engine: started as a launcher starts it`, () => {
    let t: TestCluster;
    let connection: string;
    const children: ChildProcess[] = [];
    before(async () => {
      t = await startTestCluster({ n: 0 });
      connection = fs.readFileSync(t.cluster.engineConnectionFile, 'utf8');
    });
    after(async () => {
      for (const c of children) c.kill('SIGKILL');
      await t?.stop();
    });

    it('takes its connection from MULTIENGINE_CONNECTION, its id from --id-base + rank, and hides the variable from user code', async () => {
      const child = run(kind, ['--id-base', '10', '--engine-set', 'set-9'], { MULTIENGINE_CONNECTION: connection, OMPI_COMM_WORLD_RANK: '3', SLURM_PROCID: '0' });
      children.push(child);
      await until(() => t.rc.ids.includes(13) || t.rc.refreshEngines().then(() => false), 15_000, `engine 13 to register (${child.output()})`);
      const e = (await t.rc.status()).engines.find((x) => x.id === 13)!;
      assert.equal(e.engine_set, 'set-9');
      assert.equal(e.pid, child.pid);
      const r = await t.rc.view(13).execute(READ_ENV[kind], { block: true });
      assert.equal(String(r.result ?? r), kind === 'node' ? "'undefined'" : "'None'");
    });

    it('reads the connection from its first stdin line and exits when stdin closes', async () => {
      const child = run(kind, ['--connection-stdin', '--id', '20'], {}, 'pipe');
      children.push(child);
      child.stdin!.write(connection.replace(/\n/g, ' ') + '\n');
      await until(async () => (await t.rc.refreshEngines()).some((e) => e.id === 20 && e.state !== 'dead'), 15_000, `engine 20 to register (${child.output()})`);
      child.stdin!.end();
      assert.equal(await exited(child), 0);
      assert.match(child.output(), /stdin closed \(the launcher went away\); exiting/);
      await until(async () => (await t.rc.refreshEngines()).find((e) => e.id === 20)?.state === 'dead', 10_000, 'engine 20 to be marked dead');
    });

    it('names what is wrong: no rank for --id-base, a bad MULTIENGINE_CONNECTION, both --id and --id-base, nothing to connect with', async () => {
      const env = { MULTIENGINE_CONNECTION: connection, OMPI_COMM_WORLD_RANK: '', PMIX_RANK: '', PMI_RANK: '', SLURM_PROCID: '' };
      const noRank = run(kind, ['--id-base', '0'], env);
      assert.equal(await exited(noRank), 1);
      assert.match(noRank.output(), /--id-base needs a rank, and none of OMPI_COMM_WORLD_RANK, PMIX_RANK, PMI_RANK, SLURM_PROCID is set/);
      const badJson = run(kind, [], { MULTIENGINE_CONNECTION: '{"ip": ' });
      assert.equal(await exited(badJson), 1);
      assert.match(badJson.output(), /\$MULTIENGINE_CONNECTION is not valid JSON/);
      const both = run(kind, ['--id', '1', '--id-base', '2'], { MULTIENGINE_CONNECTION: connection });
      assert.notEqual(await exited(both), 0);
      assert.match(both.output(), /give --id or --id-base, not both/);
      const nothing = run(kind, [], { MULTIENGINE_CONNECTION: '' });
      assert.notEqual(await exited(nothing), 0);
      assert.match(nothing.output(), /--file, --connection-stdin or MULTIENGINE_CONNECTION is required/);
      const early = run(kind, ['--connection-stdin'], {}, 'pipe');
      early.stdin!.end();
      assert.equal(await exited(early), 1);
      assert.match(early.output(), /stdin closed before the connection information arrived/);
    });
  });
}
