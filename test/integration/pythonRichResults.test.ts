/**
 * Rich output stays optional (docs/protocol.md section 8, Rich output): a Python engine whose value
 * has `_repr_html_`, and whose code calls display(), still answers the TypeScript client with the
 * value's text in `result`, as before; the MIME bundle and the display outputs are extra fields
 * the TypeScript client does not need.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ExecuteResult } from 'multiengine';
import { startTestCluster, type TestCluster } from './fixture.ts';

let tc: TestCluster;
before(async () => {
  tc = await startTestCluster({ n: 2, engine: 'python' });
});
after(() => tc?.stop());

test('the TypeScript client reads execute and apply replies that carry rich output', async () => {
  const v = tc.rc.view();
  v.block = true;
  const code = [
    'class Tag(object):',
    '    def __repr__(self): return "Tag()"',
    '    def _repr_html_(self): return "<b>tag</b>"',
    'print("before")',
    'display(Tag())',
    'Tag()',
  ].join('\n');
  const out = (await v.execute(code)) as ExecuteResult[];
  assert.deepEqual(
    out.map((o) => [o.engineId, o.stdout, o.result]),
    [
      [0, 'before\n', 'Tag()'],
      [1, 'before\n', 'Tag()'],
    ],
  );
  assert.deepEqual(await v.applySync('lambda: display(Tag()) or 7'), [7, 7]);
});
