// What `multiengine status` prints about load balancing: the scheduler's line and the engine table's balanced column.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { EngineInfo } from '../../../core/protocol/messages.ts';
import { formatBalancing, formatEngineTable, formatTaskDb } from '../../../core/cli/statusReport.ts';

const engine: EngineInfo = { id: 0, uuid: 'u', kernel: 'node', language_version: '22', host: 'hosta', pid: 41, state: 'busy', queue: 3, restarts: 0, registered: 'now' };

test('the load-balancing line says the unassigned tasks, the scheme and the hwm (0: no limit), in singular or plural', () => {
  assert.equal(formatBalancing({ unassigned: 12, scheme: 'leastload', hwm: 2 }), 'load balancing: 12 tasks unassigned, scheme leastload, at most 2 tasks per engine');
  assert.equal(formatBalancing({ unassigned: 1, scheme: 'lru', hwm: 1 }), 'load balancing: 1 task unassigned, scheme lru, at most 1 task per engine');
  assert.equal(formatBalancing({ unassigned: 0, scheme: 'twobin', hwm: 0 }), 'load balancing: 0 tasks unassigned, scheme twobin, no limit of tasks per engine');
  // A controller that reports only some of them (an older one): what it reports; none, no line.
  assert.equal(formatBalancing({ unassigned: 4 }), 'load balancing: 4 tasks unassigned');
  assert.equal(formatBalancing({}), null);
});

test('the engine table has a balanced column: the part of the queue the scheduler sent, - when the controller does not say', () => {
  const lines = formatEngineTable([{ ...engine, balanced: 2 }, { ...engine, id: 1, pid: 42, state: 'idle', queue: 0 }]).split('\n');
  assert.deepEqual(lines, [
    'id  state  kernel  pid  host   queue  balanced',
    '0   busy   node    41   hosta  3      2',
    '1   idle   node    42   hosta  0      -',
  ]);
});

test('the task database line names its backend, a fallback and why, or that nothing is kept', () => {
  const caps = { rows: 12, bytes: 1048576, max_rows: 1000, max_bytes: 10485760, evicted: 3 };
  assert.equal(formatTaskDb({ backend: 'sqlite', file: '/p/tasks.db', ...caps }), 'task database: sqlite (/p/tasks.db), 12 records, 1.0 MiB of 10.0 MiB (max 1000 records), 3 evicted');
  assert.equal(formatTaskDb({ backend: 'memory', fallback: 'file is not a database', ...caps, rows: 1 }), 'task database: memory, fallen back from sqlite: file is not a database, 1 record, 1.0 MiB of 10.0 MiB (max 1000 records), 3 evicted');
  assert.equal(formatTaskDb({ backend: 'none', ...caps }), 'task database: none (--db none: no task records are kept)');
});
