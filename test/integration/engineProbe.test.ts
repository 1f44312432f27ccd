/**
 * Issue 16, "What is it doing?": the stack and CPU profile of an engine spinning in a busy loop,
 * read from its heart while the loop runs (node and python), without stopping it or disturbing
 * the other engines; bad requests get errors naming what was wrong.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ControllerError, RemoteError, type AsyncResult, type Client, type EngineProfile } from 'multiengine';
import { startTestCluster, until, type TestCluster } from './fixture.ts';

const SPIN = {
  node: 'function spinHere() { while (true) {} }\nspinHere()',
  python: 'def spin_here():\n    while True:\n        pass\n\nspin_here()',
};
const NAME = { node: 'spinHere', python: 'spin_here' };

/** Samples whose innermost frame is `fn`. */
function samplesIn(p: EngineProfile, fn: string): number {
  return p.stacks.filter((s) => p.frames[s.frames[s.frames.length - 1]].function === fn).reduce((n, s) => n + s.count, 0);
}

/** A profile's stacks as `count: outer>…>inner`, for failure messages. */
function stacksText(p: EngineProfile): string {
  return p.stacks.map((s) => `${s.count}: ${s.frames.map((i) => p.frames[i].function).join('>')}`).join('; ') || 'no stacks';
}

/** Engine `id`'s stack; none while its heart has not connected yet (right after the cluster started). */
async function stackOrNone(rc: Client, id: number): Promise<{ function: string }[]> {
  try {
    return (await rc.engineStack(id)).frames;
  } catch (e) {
    if (e instanceof ControllerError && /has no heart connection yet/.test(e.message)) return [];
    throw e;
  }
}

for (const kind of ['node', 'python'] as const) {
  describe(`${kind} engines: stack and profile of a busy engine`, () => {
    let tc: TestCluster;
    let rc: Client;
    before(async () => {
      tc = await startTestCluster({ n: 2, engine: kind });
      rc = tc.rc;
    });
    after(() => tc.stop());

    test('the stack names the function the loop is in, the profile has most samples in it, and the loop runs on', async () => {
      const v = rc.view(0);
      const spinning = v.execute(SPIN[kind]) as AsyncResult<unknown>;
      const failed = spinning.then(
        () => null,
        (e: unknown) => e,
      );
      await until(async () => (await stackOrNone(rc, 0)).some((f) => f.function === NAME[kind]), 10_000, `engine 0's stack to name ${NAME[kind]}`);
      const stack = await rc.engineStack(0);
      assert.equal(stack.engineId, 0);
      assert.equal(stack.frames[stack.frames.length - 1].function, NAME[kind], `innermost frame: ${JSON.stringify(stack.frames.slice(-3))}`);
      assert.ok(stack.frames[stack.frames.length - 1].line >= 1);
      assert.equal(stack.running?.msgId, spinning.msgIds[0]);

      // Engine 1 works meanwhile, through its own queue.
      const other = rc.view(1).apply(kind === 'node' ? (n: number) => n * 2 : 'lambda n: n * 2', 21) as AsyncResult<unknown>;
      const profile = await rc.engineProfile(0, { seconds: 2 });
      assert.equal(profile.engineId, 0);
      assert.equal(profile.seconds, 2);
      assert.ok(profile.samples >= 20, `only ${profile.samples} samples in 2 s`);
      const inLoop = samplesIn(profile, NAME[kind]);
      assert.ok(inLoop > profile.samples / 2, `${inLoop} of ${profile.samples} samples in ${NAME[kind]}: ${JSON.stringify(profile.stacks.slice(0, 5))}`);
      assert.equal(await other, 42);

      // Still spinning: its stack still names the loop, and it has not answered.
      assert.equal((await rc.engineStack(0)).frames.at(-1)?.function, NAME[kind]);
      assert.equal(spinning.ready(), false);
      await v.interrupt();
      const err = await failed;
      assert.ok(err instanceof RemoteError && /Interrupt/.test(err.ename), `the loop ended with ${String(err)}`);
      assert.deepEqual(await v.applySync(kind === 'node' ? () => 'alive' : 'lambda: "alive"'), 'alive');
    });

    if (kind === 'node')
      test('a request blocked in a synchronous call pauses late, and its stack still names it rather than reading as idle', async () => {
        // execSync holds the main thread in native code, where V8 serves no interrupt: a pause
        // comes only when each 0.6 s sleep returns, as on a loaded machine that is slow to pause.
        const v = rc.view(0);
        const blocked = v.execute("const { execSync } = require('node:child_process');\nfunction blockedHere() { while (true) execSync('sleep 0.6'); }\nblockedHere()") as AsyncResult<unknown>;
        const failed = blocked.then(
          () => null,
          (e: unknown) => e,
        );
        await until(async () => (await stackOrNone(rc, 0)).some((f) => f.function === 'blockedHere'), 10_000, "engine 0's stack to name blockedHere");
        for (let i = 0; i < 5; i++) {
          const stack = await rc.engineStack(0);
          assert.ok(stack.frames.some((f) => f.function === 'blockedHere'), `read ${i}: ${JSON.stringify(stack.frames.map((f) => f.function))}`);
          assert.equal(stack.running?.msgId, blocked.msgIds[0]);
        }
        await v.interrupt();
        const err = await failed;
        assert.ok(err instanceof RemoteError && /Interrupt/.test(err.ename), `the loop ended with ${String(err)}`);
      });

    test('an idle engine answers too: no request running', async () => {
      const stack = await rc.engineStack(1);
      assert.equal(stack.running, undefined);
      const p = await rc.engineProfile(1, { seconds: 0.3 });
      assert.ok(p.samples > 0);
      assert.equal(p.idle, p.samples, `an idle engine runs no code of a request: ${stacksText(p)}`);
    });

    if (kind === 'node')
      test("an engine idle between a timer's calls is idle in its profile, not inside the timer", async () => {
        // Each 200 ms wait ends as the event loop enters the timer, where the pending pause is served.
        await rc.view(1).execute('globalThis.ticking = setInterval(() => {}, 200)');
        try {
          const p = await rc.engineProfile(1, { seconds: 1 });
          assert.ok(p.idle >= p.samples * 0.8, `${p.idle} of ${p.samples} samples idle: ${stacksText(p)}`);
        } finally {
          await rc.view(1).execute('clearInterval(globalThis.ticking)');
        }
      });

    test('bad input: unknown engine, seconds out of range, not a number', async () => {
      await assert.rejects(rc.engineStack(7), (e: unknown) => e instanceof ControllerError && /no engine with id 7/.test(e.message));
      await assert.rejects(rc.engineProfile(7, { seconds: 1 }), (e: unknown) => e instanceof ControllerError && /no engine with id 7/.test(e.message));
      await assert.rejects(rc.engineProfile(0, { seconds: 600 }), /seconds must be a number from 0.1 to 60, got 600/);
      await assert.rejects(rc.engineStack(-1 as number), /engine id must be a whole number ≥ 0, got -1/);
      // The controller checks too (a client in another language may send anything).
      await assert.rejects(rc.request('profile_request', { engine_id: 0, seconds: 0 }), (e: unknown) => e instanceof ControllerError && /seconds must be a number from 0.1 to 60, got 0/.test(e.message));
      assert.deepEqual(await rc.view([0, 1]).applySync(kind === 'node' ? () => 1 : 'lambda: 1'), [1, 1], 'the engines keep serving');
    });

    test('an engine that dies during a profile fails it at once, naming the engine; the others serve on', async () => {
      const profiling = rc.engineProfile(1, { seconds: 20 });
      const failed = profiling.then(
        () => null,
        (e: unknown) => e,
      );
      await new Promise((r) => setTimeout(r, 300));
      process.kill(rc.engine(1)!.pid, 'SIGKILL');
      const err = await failed;
      assert.ok(err instanceof ControllerError && /engine 1 died before answering the profile request/.test(err.message), `got ${String(err)}`);
      assert.equal(await rc.view(0).applySync(kind === 'node' ? () => 'still here' : 'lambda: "still here"'), 'still here');
    });
  });
}
