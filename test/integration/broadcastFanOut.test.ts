/**
 * A request to many engines reaches each without metadata.targets (core/controller/workRouter.ts,
 * forEngines): sent as it came, a call on all of n engines made every engine sign-check, parse
 * and be sent all n ids, O(n²) bytes per broadcast. A request to a few engines arrives as the
 * client signed it. Real controller, simulated engines over real sockets (they verify each
 * request's signature, so one signed again wrongly would be dropped and never answered).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Cluster } from 'multiengine';
import { readConnectionFile } from '../../core/connection/connectionFile.ts';
import { until } from '../harness/poll.ts';
import { SimEngines } from '../harness/simEngines.ts';

test('a broadcast reaches every engine without the list of targets, signed; a request to a few engines keeps it', { timeout: 60_000 }, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'multiengine-fanout-'));
  const cluster = await Cluster.start({ n: 0, dir, profile: 'test' });
  const sims = await SimEngines.start(readConnectionFile(cluster.engineConnectionFile), 12);
  const rc = await cluster.connect();
  try {
    await until(() => rc.ids.length === 12, 20_000, 'the client to list 12 engines');
    const all = await rc.view().execute('a = 1', { store: true });
    assert.deepEqual(all.map((r) => r.engineId), rc.ids);
    for (const e of sims.engines) {
      const md = e.lastRequest!.metadata;
      assert.equal(md.targets, undefined, `engine ${e.id} was sent metadata.targets`);
      assert.equal(md.store, true, `engine ${e.id} lost the rest of the metadata`);
    }
    const two = await rc.view([3, 5]).execute('b = 2');
    assert.deepEqual(two.map((r) => r.engineId), [3, 5]);
    for (const id of [3, 5]) assert.deepEqual(sims.byId(id)!.lastRequest!.metadata.targets, [3, 5]);
  } finally {
    rc.close();
    sims.stop();
    await cluster.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
