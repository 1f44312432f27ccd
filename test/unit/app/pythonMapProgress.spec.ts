// A Python client's load-balanced map shows in the app's Progress in items: its tasks carry
// metadata.balanced.map {id, items, chunk} as the TypeScript client's do, the controller's task
// events bring it to main (TaskStreamFeed), and the renderer's ProgressBook counts it. A real
// cluster of python engines started by the app, and the Python client in its own process.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AppSettings, EventName, EventTypes } from '../../../preload/contract.js';
import { ClusterService } from '../../../main/services/clusterService.js';
import { SettingsStore } from '../../../main/services/settings.js';
import { ProgressBook } from '../../../renderer/lib/progress.js';

const PYTHON_CLIENT = path.resolve(__dirname, '../../../engines/python');
const sink = { emit<K extends EventName>(_name: K, _payload: EventTypes[K]) {} };

const SCRIPT = `
from multiengine import Client
rc = Client(profile='pymap', dir=DIR)
lview = rc.load_balanced_view()
lview.label = 'doubled in python'
ar = lview.map_async(lambda x: 2 * x, range(10000))
r = ar.get(timeout=600)
assert r == [2 * x for x in range(10000)], r[:10]
chunked = lview.map_async(lambda x: x, range(10), chunksize=4).get(timeout=60)
print('done', len(r), len(chunked))
`;

describe("a Python client's load-balanced map in Progress", () => {
  let dir: string;
  let svc: ClusterService;

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'me-pymap-'));
    const settings: AppSettings = { engineCount: 2, engineKind: 'python', attach: false, profile: 'pymap' };
    svc = new ClusterService({ events: sink, settings: new SettingsStore(null, settings), dir, heartbeatMs: 200 });
    const snap = await svc.connection.start();
    expect(snap.error).toBeNull();
  }, 90_000);

  afterAll(async () => {
    await svc?.dispose();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  it('lview.map_async(f, range(10000)) is one map of 10,000 items, all done; a chunked one counts items, not tasks', async () => {
    // In a file: the client sends a lambda as its source line, which `python3 -c` has not.
    const script = path.join(dir, 'map.py');
    fs.writeFileSync(script, `DIR = ${JSON.stringify(dir)}\n${SCRIPT}`);
    const r = spawnSync('python3', [script], {
      encoding: 'utf8',
      env: { ...process.env, PYTHONPATH: PYTHON_CLIENT },
      timeout: 600_000,
    });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe('done 10000 10');
    // What a window that opens now is given, counted as the renderer counts it (the last events come a batch later).
    const maps = () => {
      const book = new ProgressBook();
      book.add(svc.stream.list(), Date.now());
      return book.list().filter((e) => e.what === 'map');
    };
    const end = Date.now() + 30_000;
    while (Date.now() < end && !(maps().length === 2 && maps().every((m) => m.done === m.total))) await new Promise((res) => setTimeout(res, 100));
    const byTotal = new Map(maps().map((e) => [e.total, e]));
    expect([...byTotal.keys()].sort((a, b) => a - b)).toEqual([10, 10_000]);
    expect(byTotal.get(10_000)).toMatchObject({ title: 'doubled in python', done: 10_000, failed: 0 });
    expect(byTotal.get(10)).toMatchObject({ done: 10, failed: 0 });
  }, 700_000);
});
