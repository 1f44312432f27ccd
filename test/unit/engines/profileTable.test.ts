/** The node engine's profile counting (engines/node/mainThreadProbe.ts ProfileTable): samples count for the time their pause took. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ProfileTable, SAMPLE_MS } from '../../../engines/node/mainThreadProbe.ts';

const loop = [
  { function: 'runScript', file: 'file:///engine/main.js', line: 10 },
  { function: 'spinHere', file: '[execute 1]', line: 1 },
];
const timers = [{ function: 'processTimers', file: 'node:internal/timers', line: 500 }];

test('a slow pause inside user code counts for every period it took; one served as the event loop enters a timer is idle, as no code of a request ran', () => {
  const t = new ProfileTable();
  t.addTimed(loop, 27 * SAMPLE_MS); // a loaded machine, slow to pause a spinning loop
  t.addTimed(timers, 27 * SAMPLE_MS); // idle until a timer fired: the pause came before its callback
  t.addTimed(timers, 2); // quick, and still before any callback
  t.addTimed([], 5 * SAMPLE_MS); // no pause at all: idle
  const r = t.result();
  assert.equal(r.samples, 27 + 27 + 1 + 5);
  assert.equal(r.idle, 27 + 1 + 5);
  const byInner = Object.fromEntries(r.stacks.map((s) => [r.frames[s.frames[s.frames.length - 1]].function, s.count]));
  assert.deepEqual(byInner, { spinHere: 27 });
});
