/**
 * Load: 100,000 small requests from 4 concurrent clients at 16 engines, mixed apply, push
 * and pull. Every request gets exactly one reply with its own value (none lost, duplicated or
 * crossed between clients), and the controller's memory comes back to where it started.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { AsyncResult, Client } from 'multiengine';
import { startTestCluster } from '../integration/fixture.ts';
import { rssKB } from '../../core/util/processes.ts';

const ENGINES = 16;
const CLIENTS = 4;
const TOTAL = 100_000;
const WINDOW = 256;


/** Runs `count` requests from one client; returns how many replies matched. */
async function drive(rc: Client, c: number, count: number): Promise<number> {
  const lastPushed = new Map<number, number>(); // engine -> value this client pushed last
  const name = `v${c}`;
  let ok = 0;
  const inflight = new Set<Promise<void>>();
  for (let i = 0; i < count; i++) {
    const engine = (i * 7 + c) % ENGINES;
    const view = rc.view(engine);
    let check: Promise<void>;
    switch (i % 3) {
      case 0: {
        const ar = view.apply((cc: number, ii: number) => [cc, ii], c, i) as AsyncResult<[number, number]>;
        check = Promise.resolve(ar).then((v) => {
          assert.deepEqual(v, [c, i]);
          ok++;
        });
        break;
      }
      case 1: {
        lastPushed.set(engine, i);
        check = Promise.resolve(view.push({ [name]: i })).then(() => {
          ok++;
        });
        break;
      }
      default: {
        const expected = lastPushed.get(engine);
        const ar = view.pull(expected === undefined ? 'undefined_for_now' : name) as AsyncResult<number>;
        check = Promise.resolve(ar).then(
          (v) => {
            assert.equal(v, expected);
            ok++;
          },
          (e: Error) => {
            assert.equal(expected, undefined, `pull ${name} from ${engine} failed: ${e.message}`);
            ok++;
          },
        );
      }
    }
    const tracked: Promise<void> = check.finally(() => inflight.delete(tracked));
    inflight.add(tracked);
    if (inflight.size >= WINDOW) await Promise.race(inflight);
  }
  await Promise.all(inflight);
  return ok;
}

test(`${TOTAL.toLocaleString()} requests from ${CLIENTS} clients at ${ENGINES} engines: none lost, none duplicated, none crossed`, { timeout: 600_000 }, async () => {
  const tc = await startTestCluster({ n: ENGINES, heartbeatMs: 500, deadAfterMs: 10_000 });
  const clients = await Promise.all(Array.from({ length: CLIENTS }, () => tc.cluster.connect()));
  try {
    const pid = tc.cluster.controllerPid;
    const memory = async () => (await tc.rc.status()).memory!;
    /** The heap in use once the controller has collected (IdleCollector) after the burst that began with `before` collections. */
    const collectedHeap = async (before: number) => {
      for (let waited = 0; waited < 30_000; waited += 200) {
        await new Promise((r) => setTimeout(r, 200));
        const m = await memory();
        if (m.idle_collections > before) return m.heap_used;
      }
      throw new Error('the controller ran no collection within 30 s of going quiet');
    };
    // Warm up so the comparison measures steady state, not first-use allocations
    // (20,000 requests: enough for the controller's code to be optimized before the baseline).
    const warmupFrom = (await memory()).idle_collections;
    await Promise.all(clients.map((rc, c) => drive(rc, c, 5_000)));
    const startHeap = await collectedHeap(warmupFrom);
    const startRss = rssKB(pid);
    const loadFrom = (await memory()).idle_collections;
    const results = await Promise.all(clients.map((rc, c) => drive(rc, c, TOTAL / CLIENTS)));
    assert.deepEqual(results, Array(CLIENTS).fill(TOTAL / CLIENTS));
    for (const rc of clients) assert.equal(rc.outstandingResults.length, 0, 'no reply is still awaited');
    // The controller collects once traffic goes quiet (IdleCollector): the memory in use must come
    // back to where it started. Its RSS may keep freed pages for reuse, but stays bounded.
    const heap = await collectedHeap(loadFrom);
    assert.ok(heap <= startHeap * 1.1, `controller heap in use ${startHeap} bytes before, ${heap} after`);
    const endRss = rssKB(pid);
    assert.ok(endRss < startRss + 64 * 1024, `controller RSS ${startRss} kB before, ${endRss} kB after`);
    const status = await tc.rc.status();
    assert.equal(status.engines.filter((e) => e.state === 'idle').length, ENGINES);
  } finally {
    for (const rc of clients) rc.close();
    await tc.stop();
  }
});
