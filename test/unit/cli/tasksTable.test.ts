// What `multiengine tasks` prints and how its flags become a query: the table, its order and --last, and bad flag values.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { TaskRecord } from '../../../core/protocol/messages.ts';
import { formatDuration, formatTaskTable, formatTime, inSubmissionOrder, oneLine, shortId, type TableRecord } from '../../../core/cli/tasksTable.ts';
import { tasksQuery } from '../../../core/cli/tasksCommand.ts';
import { UsageError } from '../../../core/cli/usage.ts';

const ID = '0123456789abcdef-x0000001a';

function record(over: Partial<TaskRecord>): TableRecord {
  return {
    msg_id: ID,
    engine_id: 0,
    msg_type: 'execute_request',
    label: null,
    code: '6 * 7',
    status: 'ok',
    submitted: '2026-12-03T16:40:01.123Z',
    received: '2026-12-03T16:40:01.125Z',
    started: '2026-12-03T16:40:01.130Z',
    completed: '2026-12-03T16:40:01.142Z',
    ename: null,
    evalue: null,
    ...over,
  };
}

test('the table: short msg_id, engine (- when never assigned), method, label, status, UTC submit time, engine time, one-line code and error', () => {
  const lines = formatTaskTable([
    record({}),
    record({
      msg_id: 'fedcba9876543210-y00000002',
      engine_id: 1,
      msg_type: 'apply_request',
      label: 'doubling',
      code: 'function double(x) {\n    return x * 2;\n}',
      status: 'error',
      started: '2026-12-03T16:40:02.000Z',
      completed: '2026-12-03T16:40:03.500Z',
      ename: 'TypeError',
      evalue: 'x is not a number, and this message goes on for long enough to be cut',
    }),
    record({ engine_id: null, status: 'aborted', submitted: null, started: null, completed: null, code: null, ename: 'TaskTimeout', evalue: '' }),
    record({ status: 'pending', started: null, completed: null, code: `for (let i = 0; i < 10; i++) {\n  work(i);\n}\nconsole.log("a long loop that is cut")` }),
  ]).split('\n');
  assert.deepEqual(lines, [
    'msg_id         engine  method   label     status   submitted (UTC)          duration  code                                      error',
    '012345…00001a  0       execute  -         ok       2026-12-03 16:40:01.123  12 ms     6 * 7',
    'fedcba…000002  1       apply    doubling  error    2026-12-03 16:40:01.123  1.50 s    function double(x) { return x * 2; }      TypeError: x is not a number, and this message goes on for …',
    '012345…00001a  -       execute  -         aborted  2026-12-03 16:40:01.125  -                                                   TaskTimeout',
    '012345…00001a  0       execute  -         pending  2026-12-03 16:40:01.123  -         for (let i = 0; i < 10; i++) { work(i);…',
  ]);
});

test('the pieces: short ids keep short ones whole, text is cut with an ellipsis, times and durations', () => {
  assert.equal(shortId('abc'), 'abc');
  assert.equal(shortId('12345678-1234-1234-1234-123456789abc'), '123456…789abc');
  assert.equal(oneLine('  a\n\tb  ', 10), 'a b');
  assert.equal(oneLine('abcdefghijk', 5), 'abcd…');
  assert.equal(formatTime(null), '-');
  assert.equal(formatTime('2026-12-03T16:40:01.123456Z'), '2026-12-03 16:40:01.123');
  assert.equal(formatTime('not a time'), 'not a time');
  assert.equal(formatDuration('2026-12-03T16:40:00.000Z', '2026-12-03T16:42:03.400Z'), '2 min 3 s');
  assert.equal(formatDuration('2026-12-03T16:40:00.000Z', null), '-');
  assert.equal(formatDuration('2026-12-03T16:40:01.000Z', '2026-12-03T16:40:00.000Z'), '-');
});

test('records go oldest first by submission (the controller answers in finishing order); --last keeps the newest N, still oldest first', () => {
  const at = (s: number, engine: number | null, submitted = true) => {
    const t = `2026-12-03T16:40:0${s}.000Z`;
    return { msg_id: `m${s}-${engine}`, engine_id: engine, submitted: submitted ? t : null, received: t };
  };
  const finished = [at(3, 0), at(1, 1), at(1, 0), at(2, null, false), at(4, 1)];
  assert.deepEqual(inSubmissionOrder(finished).map((r) => r.msg_id), ['m1-0', 'm1-1', 'm2-null', 'm3-0', 'm4-1']);
  assert.deepEqual(inSubmissionOrder(finished, 2).map((r) => r.msg_id), ['m3-0', 'm4-1']);
  assert.deepEqual(inSubmissionOrder(finished, 99).length, 5);
  assert.deepEqual(finished.map((r) => r.msg_id)[0], 'm3-0', 'the input is not reordered in place');
  // Sent in the same millisecond (a map's tasks): by msg_id, whose counter gives one client's order, then engine.
  const t = '2026-12-03T16:40:01.000Z';
  const same = ['c-00000006', 'c-00000005', 'c-00000004'].map((msg_id, i) => ({ msg_id, engine_id: i % 2, submitted: t, received: t }));
  assert.deepEqual(inSubmissionOrder([...same, { ...same[2], engine_id: 1 }]).map((r) => `${r.msg_id}@${r.engine_id}`), ['c-00000004@0', 'c-00000004@1', 'c-00000005@1', 'c-00000006@0']);
});

test('flags become a dbQuery filter: engine id, status, method by its name (or msg_type), label; --last a count', () => {
  assert.deepEqual(tasksQuery({}), { filter: {}, last: undefined });
  assert.deepEqual(tasksQuery({ engine: '1', status: 'error', method: 'apply', label: 'x', last: '2' }), {
    filter: { engine_id: 1, status: 'error', msg_type: 'apply_request', label: 'x' },
    last: 2,
  });
  assert.deepEqual(tasksQuery({ method: 'execute_request' }).filter, { msg_type: 'execute_request' });
});

test('a bad flag value is a usage error of `tasks` that names the flag and the value', () => {
  const bad: [Parameters<typeof tasksQuery>[0], RegExp][] = [
    [{ engine: 'one' }, /^--engine must be an engine id .*got "one"$/],
    [{ engine: '-1' }, /^--engine must be an engine id .*got "-1"$/],
    [{ status: 'failed' }, /^--status must be one of ok, error, aborted, pending, got "failed"$/],
    [{ method: 'run' }, /^--method must be one of execute, apply, push, pull, keys, clear, got "run"$/],
    [{ label: '' }, /^--label needs a label/],
    [{ last: '0' }, /^--last must be a whole number of records ≥ 1, got "0"$/],
    [{ last: '2.5' }, /^--last must be a whole number of records ≥ 1, got "2.5"$/],
    [{ last: 'all' }, /^--last must be a whole number of records ≥ 1, got "all"$/],
  ];
  for (const [flags, message] of bad) {
    assert.throws(() => tasksQuery(flags), (e: unknown) => e instanceof UsageError && e.command === 'tasks' && message.test(e.message), JSON.stringify(flags));
  }
});
