/**
 * Issue 18's real-engine check: 256 real Python engines through the local launcher (forked from
 * one server, core/launch/forkServer.ts), an execute on all of them, then stop with nothing left
 * behind: no engine, no fork server, no controller, no zombie. Not timed (the start's duration is
 * `npm run bench -- --scale`'s figure); every wait polls for a condition.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Cluster } from 'multiengine';
import { isAlive, parentPid } from '../../core/util/processes.ts';
import { until } from '../harness/poll.ts';

const N = 256;

test(`${N} real python engines: all register, execute reaches every one, stop leaves no process behind`, { timeout: 300_000 }, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'multiengine-py256-'));
  const cluster = await Cluster.start({ n: N, engine: 'python', dir, profile: 'test', timeoutMs: 240_000, engineTimeoutMs: 240_000 });
  const controllerPid = cluster.controllerPid;
  let pids: number[] = [];
  let servers: number[] = [];
  try {
    const rc = await cluster.connect();
    try {
      await until(() => rc.ids.length === N, 120_000, `the client to list ${N} engines`);
      const status = await rc.status();
      assert.deepEqual(status.engines.map((e) => e.id).sort((a, b) => a - b), Array.from({ length: N }, (_, i) => i), `ids 0…${N - 1}, each once`);
      pids = status.engines.map((e) => e.pid!);
      assert.equal(new Set(pids).size, N, 'a process of its own for each engine');
      servers = [...new Set(pids.map(parentPid))].filter((p): p is number => p !== null);
      assert.deepEqual(servers.map(parentPid), [controllerPid], 'all forked by one server, itself a child of the controller');

      const view = rc.view();
      await view.execute('import os\nme = os.getpid()', { block: true });
      const got = (await view.pull('me', { block: true })) as number[];
      const pidOf = new Map(status.engines.map((e) => [e.id, e.pid]));
      assert.deepEqual(got, rc.ids.map((id) => pidOf.get(id)), 'every engine ran the code, in its own process');
    } finally {
      rc.close();
    }
  } finally {
    await cluster.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
  // isAlive counts a zombie as gone, so also check that nothing is left as a child of anyone we started.
  await until(() => [controllerPid, ...servers, ...pids].every((p) => !isAlive(p)), 30_000, 'the controller, the fork server and every engine to be gone');
  for (const p of [...servers, ...pids]) assert.equal(fs.existsSync(`/proc/${p}`), false, `pid ${p} is not even a zombie`);
});
