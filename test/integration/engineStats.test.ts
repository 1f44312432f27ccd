/**
 * Issue 13: engines report their own host, CPU and memory with their beats, so the controller's
 * status carries them for engines wherever they run. Real node and python engines.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import os from 'node:os';
import type { Client, EngineInfo } from 'multiengine';
import { engineInfo, startTestCluster, until } from './fixture.ts';

const python = process.env.MULTIENGINE_PYTHON ?? 'python3';
const havePython = spawnSync(python, ['--version']).status === 0;

type Stats = NonNullable<EngineInfo['stats']>;

/** Engine `id`'s first report that came after `after` (ISO time; none: any report). */
async function reportAfter(rc: Client, id: number, after?: string, what = 'a report'): Promise<Stats> {
  let s: Stats | undefined;
  await until(
    async () => {
      s = (await engineInfo(rc, id)).stats;
      return s !== undefined && (after === undefined || Date.parse(s.at) > Date.parse(after));
    },
    5000,
    `engine ${id}'s ${what}`,
  );
  return s!;
}

const SPIN = {
  node: 'const t0 = Date.now(); while (Date.now() - t0 < 4000);',
  python: 'import time\nt0 = time.monotonic()\nwhile time.monotonic() - t0 < 4:\n    pass',
};

test('node and python engines report their host, memory and CPU in status; the CPU rises while an engine spins', { skip: !havePython && `no ${python}` }, async () => {
  const tc = await startTestCluster({ n: 1 });
  try {
    const [py] = await tc.cluster.addEngines(1, { engine: 'python' });
    for (const [id, kind] of [
      [0, 'node'],
      [py, 'python'],
    ] as const) {
      const first = await reportAfter(tc.rc, id, undefined, 'first report');
      assert.equal(first.host, os.hostname(), `${kind}: host`);
      assert.ok(first.rss > 1_000_000, `${kind}: rss ${first.rss}`);
      assert.ok((first.mem_total ?? 0) > first.rss, `${kind}: mem_total ${first.mem_total}`);
      assert.ok(first.cpu >= 0 && (first.load ?? 0) >= 0, `${kind}: cpu ${first.cpu}, load ${first.load}`);

      // A report of an idle second, then reports while the engine spins for 4 s.
      const idle = await reportAfter(tc.rc, id, first.at, 'idle report');
      const spin = tc.rc.view(id).execute(SPIN[kind]);
      let busy: Stats | undefined;
      await until(
        async () => {
          const s = (await engineInfo(tc.rc, id)).stats!;
          // A spinning engine on a machine busy with other test files may get less than half a core.
          if (Date.parse(s.at) > Date.parse(idle.at) && s.cpu >= 15 && s.cpu > idle.cpu + 10) busy = s;
          return busy !== undefined;
        },
        8000,
        `${kind}: a report of CPU well above the idle ${idle.cpu}%`,
      );
      await spin;
      assert.equal(busy!.host, os.hostname());
    }
  } finally {
    await tc.stop();
  }
});
