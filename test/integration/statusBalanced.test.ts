/**
 * The load-balanced queue made visible from the command line: a real cluster started with
 * `scheme: 'lru', hwm: 1`, tasks that wait on a file the test creates (no sleeps), and
 * `multiengine status` (text and --json) and Cluster.status() saying how many tasks are
 * unassigned and how many each engine has, then 0 once they are done.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { startTestCluster, until, type TestCluster } from './fixture.ts';

declare const require: (m: string) => typeof fs;

const bin = path.resolve('bin/multiengine.js');
const run = promisify(execFile);

/** Runs on a node engine: waits until `file` exists, then returns `x`. */
async function held(file: string, x: number): Promise<number> {
  const { existsSync } = require('node:fs');
  while (!existsSync(file)) await new Promise((r) => setTimeout(r, 5));
  return x;
}

let tc: TestCluster;

before(async () => {
  tc = await startTestCluster({ n: 2, scheme: 'lru', hwm: 1 });
});
after(async () => {
  await tc?.stop();
});

async function status(...flags: string[]): Promise<string> {
  const { stdout } = await run(process.execPath, [bin, 'status', '--profile', 'test', '--dir', tc.dir, ...flags], { encoding: 'utf8', timeout: 30_000 });
  return stdout;
}

/** The controller's counts as the CLI's --json reports them. */
async function jsonCounts(): Promise<{ unassigned: number; balanced: number[]; scheme: string; hwm: number }> {
  const s = JSON.parse(await status('--json')) as { unassigned: number; scheme: string; hwm: number; engines: { id: number; balanced: number }[] };
  return { unassigned: s.unassigned, scheme: s.scheme, hwm: s.hwm, balanced: s.engines.map((e) => e.balanced) };
}

test('status shows the scheme, hwm, unassigned tasks and each engine\'s balanced tasks while a map waits, then 0', async () => {
  const idle = await tc.cluster.status();
  assert.equal(idle.scheme, 'lru');
  assert.equal(idle.hwm, 1);
  assert.equal(idle.unassigned, 0);
  assert.match(await status(), /^load balancing: 0 tasks unassigned, scheme lru, at most 1 task per engine$/m);

  const gate = path.join(tc.dir, 'gate');
  const ar = tc.rc.loadBalancedView().mapAsync(held, [gate, gate, gate, gate, gate], [0, 1, 2, 3, 4]);
  // hwm 1 on 2 engines: one task on each, three held by the scheduler.
  await until(async () => {
    const s = await tc.cluster.status();
    return s.unassigned === 3 && s.engines.every((e) => e.balanced === 1 && e.state === 'busy');
  }, 10_000, 'one task on each engine and three unassigned');

  const text = await status();
  assert.match(text, /^load balancing: 3 tasks unassigned, scheme lru, at most 1 task per engine$/m);
  assert.match(text, /^id\s+state\s+kernel\s+pid\s+host\s+queue\s+balanced$/m);
  assert.match(text, /^0\s+busy\s+node\s+\d+\s+\S+\s+1\s+1$/m);
  assert.match(text, /^1\s+busy\s+node\s+\d+\s+\S+\s+1\s+1$/m);
  assert.deepEqual(await jsonCounts(), { unassigned: 3, scheme: 'lru', hwm: 1, balanced: [1, 1] });

  fs.writeFileSync(gate, '');
  assert.deepEqual(await ar, [0, 1, 2, 3, 4]);
  await until(async () => (await tc.cluster.status()).engines.every((e) => e.balanced === 0), 10_000, 'no balanced task left on the engines');
  assert.deepEqual(await jsonCounts(), { unassigned: 0, scheme: 'lru', hwm: 1, balanced: [0, 0] });
  assert.match(await status(), /^0\s+idle\s+node\s+\d+\s+\S+\s+0\s+0$/m);
});
