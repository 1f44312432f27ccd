import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LineSplitter } from '../../../core/util/lines.ts';

test('a line cut between pieces comes whole once its end comes; end() gives the unfinished rest once', () => {
  const s = new LineSplitter();
  assert.deepEqual(s.push('a\nb'), ['a']);
  assert.deepEqual(s.push('c'), []);
  assert.deepEqual(s.push('\n\nd\n'), ['bc', '', 'd']);
  assert.deepEqual(s.push('tail'), []);
  assert.equal(s.end(), 'tail');
  assert.equal(s.end(), '');
  assert.deepEqual(s.push('x\n'), ['x'], 'nothing of the rest is kept after end()');
});
