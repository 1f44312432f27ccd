/** Issue 11, item 17: a hung engine shows as unresponsive to a default client, and as idle again once it resumes. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { eventually, startTestCluster } from './fixture.ts';

test('a SIGSTOPped engine becomes unresponsive in rc.engine(id).state before any death, and idle again after SIGCONT', async () => {
  // Dead only after 8 s of silence, so the unresponsive phase (from ~250 ms) is long and unambiguous.
  const tc = await startTestCluster({ n: 2, deadAfterMs: 8000 });
  const pid = tc.rc.engine(1)!.pid;
  let stopped = false;
  try {
    assert.equal(tc.rc.engine(1)!.state, 'idle');
    process.kill(pid, 'SIGSTOP');
    stopped = true;
    // The client subscribes to 'registration' events (the default): it must still see this.
    assert.ok(await eventually(() => tc.rc.engine(1)?.state === 'unresponsive', 5000), `engine 1 is ${tc.rc.engine(1)?.state}, not unresponsive`);
    assert.equal(tc.rc.engine(0)!.state, 'idle');
    process.kill(pid, 'SIGCONT');
    stopped = false;
    assert.ok(await eventually(() => tc.rc.engine(1)?.state === 'idle', 5000), `engine 1 is ${tc.rc.engine(1)?.state}, not idle again`);
    assert.deepEqual(await tc.rc.view([0, 1]).applySync(() => 'awake'), ['awake', 'awake']);
  } finally {
    if (stopped) process.kill(pid, 'SIGCONT');
    await tc.stop();
  }
});
