/**
 * The task database's SQLite worker gives way to everything else on Linux: its thread runs at
 * SCHED_IDLE (sqliteWorker.ts, through util-linux's chrt), the controller's other threads at the
 * normal policy; with --db none there is no such thread. Read from /proc, on a real controller.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { startTestCluster, until } from './fixture.ts';

const SCHED_OTHER = 0;
const SCHED_IDLE = 5;

/** Scheduling policy of each thread of `pid` (from /proc/PID/task/TID/sched). */
function policies(pid: number): number[] {
  const out: number[] = [];
  for (const tid of fs.readdirSync(`/proc/${pid}/task`)) {
    try {
      const m = /^policy\s*:\s*(\d+)/m.exec(fs.readFileSync(`/proc/${pid}/task/${tid}/sched`, 'utf8'));
      if (m) out.push(Number(m[1]));
    } catch {
      /* the thread ended */
    }
  }
  return out;
}

test('task database (sqlite, Linux): the worker thread runs at SCHED_IDLE, the controller loop and the rest at the normal policy; --db none has no such thread', { skip: process.platform !== 'linux' ? 'SCHED_IDLE is Linux only' : false }, async () => {
  const on = await startTestCluster({ n: 1 });
  try {
    await on.rc.view(0).applySync('() => 1');
    const pid = on.cluster.controllerPid;
    await until(() => policies(pid).includes(SCHED_IDLE), 10_000, 'a controller thread at SCHED_IDLE (is util-linux chrt installed?)');
    const p = policies(pid);
    assert.equal(p.filter((x) => x === SCHED_IDLE).length, 1, `one thread at SCHED_IDLE: ${p}`);
    assert.ok(p.filter((x) => x === SCHED_OTHER).length >= 2, `the loop and V8's threads at the normal policy: ${p}`);
    assert.equal((await on.rc.status()).task_db!.backend, 'sqlite');
  } finally {
    await on.stop();
  }
  const off = await startTestCluster({ n: 1, db: 'none' });
  try {
    await off.rc.view(0).applySync('() => 1');
    assert.deepEqual(policies(off.cluster.controllerPid).filter((x) => x === SCHED_IDLE), []);
  } finally {
    await off.stop();
  }
});
