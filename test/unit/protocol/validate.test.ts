/** The wire checks of core/protocol/validate.ts: typed content back, or an error naming the field. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createMessage, type EngineInfo, type Message, type MsgType } from '../../../core/protocol/messages.ts';
import { checkBalanced } from '../../../core/protocol/balancedSpec.ts';
import { checkContent, checkHeartbeat, checkMessage, checkParent, checkReply, checkTargets, engineIdOf, isMsgType, parentIdOf, WireError } from '../../../core/protocol/validate.ts';

const header = { msg_id: 'm1', msg_type: 'execute_request', session: 's', date: '2026-01-01T00:00:00Z', version: 'multiengine/1' };
const engine: EngineInfo = { id: 0, uuid: 'u', kernel: 'node', language_version: '20', host: 'h', pid: 1, state: 'idle', queue: 0, restarts: 0, registered: 'now' };

/** One well-formed content of every msg_type that crosses the network. */
const GOOD: { [K in MsgType]: unknown } = {
  registration_request: { uuid: 'u', kernel: 'python', language_version: '3.11', host: 'h', pid: 5, requested_id: 2, resume: true, direct: { ip: '127.0.0.1', port: 9 } },
  registration_reply: { status: 'ok', id: 0, heartbeat_ms: 100, reconnect_ms: 0 },
  heartbeat: { uuid: 'u', id: 0, running: { msg_id: 'm', msg_type: 'execute_request' }, stats: { host: 'hostb', cpu: 12.5, rss: 4096, mem_total: 8192, load: 0.5 } },
  engine_activity: { direct_running: { msg_id: 'm', msg_type: 'apply_request', started: 'now' }, direct_queued: 1, direct_done: 3, orphaned: [header] },
  task_report: { n: 1 },
  shutdown_request: {},
  execute_request: { code: '1 + 1', silent: false },
  execute_reply: { status: 'ok', execution_count: 1, result: '2' },
  apply_request: { fn: 'f', args: [1, { $t: 'buf', i: 0 }], require: ['os'] },
  apply_reply: { status: 'ok', result: { deep: [[[1]]] } },
  push_request: { ns: { a: 1 } },
  push_reply: { status: 'ok' },
  pull_request: { names: ['a', 'b'] },
  pull_reply: { status: 'ok', values: [1, null] },
  keys_request: {},
  keys_reply: { status: 'ok', keys: ['a'] },
  clear_request: {},
  clear_reply: { status: 'aborted' },
  stream: { name: 'stdout', text: 'hi\n' },
  engine_connect_request: { engine_uuid: 'u' },
  engine_connect_reply: { status: 'ok', id: 0, uuid: 'u' },
  connect_request: { subscribe: 'all' },
  connect_reply: { status: 'ok', engines: [engine], controller_pid: 9, heartbeat_ms: 100 },
  engine_event: { event: 'state', engine: { ...engine, state: 'unresponsive' } },
  task_events: { events: [{ event: 'finished', msg_id: 'm', client: 1, msg_type: 'apply_request', engine_id: 0, balanced: true, label: null, time: 'now', status: 'ok', duration_ms: 2 }], overflow: { submitted: 1, started: 0, finished: { ok: 2, error: 0, aborted: 0 } } },
  status_request: {},
  status_reply: { status: 'ok', engines: [{ ...engine, balanced: 2 }], dropped_messages: 0, clients: 1, unassigned: 3, scheme: 'lru', hwm: 0 },
  result_request: { msg_id: 'm' },
  result_reply: { status: 'ok', msg_id: 'm', msg_type: 'execute_request', engine_ids: [0, 1], pending: [1] },
  add_engines_request: { n: 2, engine: 'python', python: 'python3' },
  add_engines_reply: { status: 'ok', ids: [4, 5], set: 'set-2' },
  engine_sets_request: {},
  engine_sets_reply: { status: 'ok', sets: [] },
  stop_engine_set_request: { set: 'set-1' },
  stop_engine_set_reply: { status: 'ok' },
  engine_set_output_request: { set: 'set-1' },
  engine_set_output_reply: { status: 'ok', output: 'mpiexec: ...' },
  stop_engine_request: { id: 3 },
  stop_engine_reply: { status: 'error', ename: 'EngineError', evalue: 'no engine with id 3', traceback: [] },
  restart_engine_request: { id: 3 },
  restart_engine_reply: { status: 'ok', id: 3 },
  interrupt_request: { msg_ids: ['m'] },
  interrupt_reply: { status: 'ok' },
  abort_request: {},
  abort_reply: { status: 'ok' },
  controller_shutdown_request: {},
  controller_shutdown_reply: { status: 'ok' },
  db_request: { filter: { status: 'error', engine_id: { $in: [0, 1] }, completed: { $gt: '2026-01-01T00:00:00Z' } }, keys: ['msg_id', 'status'], last: 20 },
  db_reply: { status: 'ok', records: [{ msg_id: 'm', engine_id: 0 }] },
  history_request: {},
  history_reply: { status: 'ok', msg_ids: ['m'] },
  purge_request: { msg_ids: 'all', targets: [0] },
  purge_reply: { status: 'ok', purged: 3 },
  resubmit_request: { msg_ids: ['m1', 'm2'] },
  resubmit_reply: { status: 'ok', msg_ids: ['n1', 'n2'] },
  queue_request: {},
  queue_reply: { status: 'ok', engines: [{ id: 0, queued: 1, running: 1, completed: 5 }], unassigned: 0 },
  stack_request: { engine_id: 0 },
  stack_reply: { status: 'ok', engine_id: 0, frames: [{ function: 'spinHere', file: 'cell-1', line: 1 }], running: { msg_id: 'm', msg_type: 'execute_request' } },
  profile_request: { engine_id: 0, seconds: 2 },
  profile_reply: { status: 'ok', engine_id: 0, seconds: 2, interval_ms: 10, samples: 3, idle: 1, frames: [{ function: 'f', file: 'x.py', line: 3 }], stacks: [{ frames: [0], count: 2 }] },
};

/** Bad content, and the words its error must contain. */
const BAD: [MsgType, unknown, RegExp][] = [
  ['registration_request', { kernel: 'node', pid: 1 }, /^uuid must be a non-empty string/],
  ['registration_request', { uuid: 'u', kernel: '', pid: 1 }, /kernel must name the engine's language \(a letter, then up to 31 letters, digits or _\.\+-\), got ""/],
  ['registration_request', { uuid: 'u', kernel: 'node', pid: '7' }, /pid must be an integer, got "7"/],
  ['registration_request', { uuid: 'u', kernel: 'node', pid: 1, requested_id: -2 }, /requested_id must be a whole number, got -2/],
  ['heartbeat', { id: 0 }, /uuid must be a string, got nothing/],
  ['engine_activity', { direct_running: null, direct_queued: -1, direct_done: 0 }, /direct_queued must be a whole number, got -1/],
  ['task_report', { n: -1 }, /n must be a whole number, got -1/],
  ['task_report', { tasks: [] }, /n must be a whole number, got nothing/],
  ['registration_reply', { status: 'ok', id: 0, heartbeat_ms: 1, report_tasks: 'yes' }, /report_tasks must be true or false/],
  ['engine_activity', { direct_running: 'x', direct_queued: 0, direct_done: 0 }, /direct_running must be null or a task/],
  ['engine_activity', { direct_running: null, direct_queued: 0, direct_done: 0, orphaned: [{ msg_id: 1 }] }, /orphaned\[0\] must be a message header/],
  ['stream', { name: 'stdlog', text: '' }, /name must be 'stdout' or 'stderr', got "stdlog"/],
  ['stream', { name: 'stdout', text: 5 }, /text must be a string, got 5/],
  ['execute_request', { code: 42 }, /code must be a string, got 42/],
  ['apply_request', { fn: 'f', args: 'x' }, /args must be an array, got "x"/],
  ['apply_request', { fn: 'f', require: [1] }, /require must be an array of module names/],
  ['push_request', { ns: [] }, /ns must be an object of names and values/],
  ['pull_request', { names: 'a' }, /names must be an array of names, got "a"/],
  ['execute_reply', { status: 'ok' }, /execution_count must be a whole number, got nothing/],
  ['execute_reply', { status: 'fine' }, /status must be 'ok', 'error' or 'aborted', got "fine"/],
  ['apply_reply', { status: 'error', ename: 'E' }, /evalue must be a string, got nothing/],
  ['pull_reply', { status: 'ok', values: {} }, /values must be an array/],
  ['connect_request', { subscribe: 'some' }, /subscribe must be 'none', 'registration' or 'all', got "some"/],
  ['connect_reply', { status: 'ok', engines: [{ ...engine, state: 'sleepy' }], controller_pid: 1, heartbeat_ms: 1 }, /engines\[0\]\.state must be an engine state, got "sleepy"/],
  ['status_reply', { status: 'ok', engines: [], dropped_messages: 0, clients: 1, scheme: 2 }, /scheme must be a string, got 2/],
  ['status_reply', { status: 'ok', engines: [], dropped_messages: 0, clients: 1, hwm: -1 }, /hwm must be a whole number, got -1/],
  ['engine_event', { event: 'moved', engine }, /event must be 'registered', 'state' or 'unregistered'/],
  ['task_events', { events: [{ event: 'queued', msg_id: 'm', client: 1, engine_id: null }] }, /events\[0\]\.event must be one of submitted, started, finished, got "queued"/],
  ['task_events', { events: [{ event: 'started', msg_id: 'm', client: 1, engine_id: -1 }] }, /engine_id must be a whole number, got -1/],
  ['task_events', { events: [], overflow: { submitted: 1, started: 0 } }, /overflow must be counts of submitted, started and finished events/],
  ['connect_request', { task_events: 'yes' }, /task_events must be true or false, got "yes"/],
  ['engine_event', { event: 'state', engine: { ...engine, id: 'x' } }, /engine\.id must be a whole number, got "x"/],
  ['result_request', { msg_id: '' }, /msg_id must be a msg_id string, got ""/],
  ['result_reply', { status: 'ok', msg_id: 'm', msg_type: 't', engine_ids: [0, -1], pending: [] }, /engine_ids\[1\] must be an engine id/],
  ['add_engines_request', { n: 0 }, /n must be a whole number from 1 to 1024, got 0/],
  ['add_engines_request', { n: 2, launcher: 7 }, /launcher must name a launcher \(local, mpi, ssh, slurm, batch\) or a module path, got 7/],
  ['add_engines_request', { n: 2, launcher: 'mpi', launcher_options: [1] }, /launcher_options must be an object of option names and values/],
  ['stop_engine_set_request', { set: '../x y' }, /set must name an engine set \(as 'set-1'\), got "..\/x y"/],
  ['add_engines_request', { n: 1, engine: 42 }, /engine must name the engine's language .*, got 42/],
  ['add_engines_request', { n: 1, python: '' }, /python must be the path or name of a python interpreter/],
  ['stop_engine_request', { id: 'x' }, /id must be an engine id \(integer\), got "x"/],
  ['interrupt_request', { msg_ids: [1] }, /msg_ids must be an array of msg_id strings, got \[1\]/],
  ['engine_connect_request', {}, /engine_uuid must be a string/],
  ['db_request', { filter: 'all' }, /filter must be an object of field conditions/],
  ['db_request', { filter: { colour: 'red' } }, /filter field "colour" is not a task record field/],
  ['db_request', { filter: { completed: { $after: 'x' } } }, /filter\.completed has an unknown comparison "\$after"/],
  ['db_request', { filter: { engine_id: { $in: 3 } } }, /filter\.engine_id\.\$in must be an array of values, got 3/],
  ['db_request', { filter: {}, last: 0 }, /last must be a whole number of records ≥ 1, got 0/],
  ['db_request', { filter: { completed: { $gt: [1] } } }, /filter\.completed\.\$gt must be a number or a string/],
  ['db_request', { filter: {}, keys: ['msg_id', 'size'] }, /key "size" is not a task record field/],
  ['resubmit_request', { msg_ids: [] }, /msg_ids is empty: name at least one request to run again/],
  ['resubmit_request', { msg_ids: [3] }, /msg_ids must be an array of msg_id strings, got \[3\]/],
  ['purge_request', { msg_ids: 'some' }, /msg_ids must be an array of msg_id strings or 'all', got "some"/],
  ['purge_request', { msg_ids: [], targets: [-1] }, /targets\[0\] must be an engine id/],
  ['stack_request', { engine_id: 'one' }, /engine_id must be an engine id \(integer\), got "one"/],
  ['profile_request', { engine_id: 0, seconds: 600 }, /seconds must be a number from 0.1 to 60, got 600/],
  ['profile_request', { engine_id: 0 }, /seconds must be a number from 0.1 to 60, got nothing/],
  ['stack_reply', { status: 'ok', engine_id: 0, frames: [{ function: 'f', line: 1 }] }, /frames\[0\] must be a frame \{function, file, line\}/],
  ['profile_reply', { status: 'ok', engine_id: 0, seconds: 1, interval_ms: 10, samples: 1, idle: 0, frames: [], stacks: [{ frames: ['a'], count: 1 }] }, /stacks\[0\] must be \{frames: \[frame indices\], count\}/],
];

test('every msg_type has a check, and well-formed content passes it unchanged in meaning', () => {
  for (const [type, content] of Object.entries(GOOD) as [MsgType, unknown][]) {
    assert.ok(isMsgType(type), type);
    assert.doesNotThrow(() => checkContent(type, content), type);
  }
  // Replies come back as they came (no copy on the hot path).
  const reply = GOOD.apply_reply;
  assert.equal(checkContent('apply_reply', reply), reply);
});

test('bad content throws a WireError whose message names the field', () => {
  for (const [type, content, words] of BAD) {
    assert.throws(() => checkContent(type, content), (e: unknown) => e instanceof WireError && words.test(e.message), `${type} ${JSON.stringify(content)}`);
  }
  assert.throws(() => checkContent('status_request', [] as unknown), /the content of status_request must be an object/);
});

test('bad values of well-formed client requests are ValueErrors, malformed messages ProtocolErrors', () => {
  const ename = (type: MsgType, content: unknown) => {
    try {
      checkContent(type, content);
    } catch (e) {
      return (e as WireError).ename;
    }
    return 'none';
  };
  assert.equal(ename('add_engines_request', { n: 5000 }), 'ValueError');
  assert.equal(ename('connect_request', { subscribe: 1 }), 'ValueError');
  assert.equal(ename('stop_engine_request', { id: 1.5 }), 'ValueError');
  assert.equal(ename('result_request', {}), 'ProtocolError');
  assert.equal(ename('abort_request', { msg_ids: 'm' }), 'ProtocolError');
});

test('registration_request comes back normalized: defaults for descriptive fields, an unusable direct address dropped', () => {
  const c = checkContent('registration_request', { uuid: 'u', kernel: 'node', pid: 4, host: 7, requested_id: null, direct: { ip: '', port: 0 }, executable: '' });
  assert.deepEqual(c, { uuid: 'u', kernel: 'node', language_version: '', host: '', pid: 4 });
  const d = checkContent('registration_request', GOOD.registration_request);
  assert.deepEqual(d.direct, { ip: '127.0.0.1', port: 9 });
  assert.equal(d.requested_id, 2);
  assert.equal(d.resume, true);
});

test('a heartbeat names a running task only when it has a msg_id', () => {
  assert.equal(checkContent('heartbeat', { uuid: 'u', id: 0, running: { msg_type: 'x' } }).running, undefined);
  assert.deepEqual(checkContent('heartbeat', GOOD.heartbeat).running, { msg_id: 'm', msg_type: 'execute_request' });
});

test("a heartbeat's stats come back checked (known fields only); malformed ones are left out with the reason, the beat stays", () => {
  const good = checkHeartbeat(GOOD.heartbeat);
  assert.deepEqual(good, { beat: { uuid: 'u', id: 0, running: { msg_id: 'm', msg_type: 'execute_request' }, stats: { host: 'hostb', cpu: 12.5, rss: 4096, mem_total: 8192, load: 0.5 } } });
  assert.deepEqual(checkHeartbeat({ uuid: 'u', id: 1, stats: { host: 'h', cpu: 0, rss: 1, extra: 'x', load: null } }).beat.stats, { host: 'h', cpu: 0, rss: 1 });
  const bad: [unknown, RegExp][] = [
    ['busy', /^stats must be an object \{host, cpu, rss, mem_total\?, load\?\}, got "busy"$/],
    [{ cpu: 1, rss: 1 }, /^stats\.host must be the engine's host name \(1 to 255 characters\), got nothing$/],
    [{ host: 'h'.repeat(256), cpu: 1, rss: 1 }, /^stats\.host must be/],
    [{ host: 'h', cpu: 'lots', rss: 1 }, /^stats\.cpu must be a percentage of one core \(a number >= 0\), got "lots"$/],
    [{ host: 'h', cpu: -1, rss: 1 }, /^stats\.cpu must be/],
    [{ host: 'h', cpu: 1, rss: 1.5 }, /^stats\.rss must be a number of bytes \(a whole number >= 0\), got 1\.5$/],
    [{ host: 'h', cpu: 1, rss: 1, mem_total: -4 }, /^stats\.mem_total must be a number of bytes/],
    [{ host: 'h', cpu: 1, rss: 1, load: '0.5' }, /^stats\.load must be a load average \(a number >= 0\), got "0\.5"$/],
  ];
  for (const [stats, words] of bad) {
    const { beat, badStats } = checkHeartbeat({ uuid: 'u', id: 2, stats });
    assert.deepEqual(beat, { uuid: 'u', id: 2 }, JSON.stringify(stats));
    assert.match(badStats ?? '', words, JSON.stringify(stats));
    // checkContent gives the beat without them, too.
    assert.deepEqual(checkContent('heartbeat', { uuid: 'u', id: 2, stats }), { uuid: 'u', id: 2 });
  }
  assert.throws(() => checkHeartbeat(null), /the content of heartbeat must be an object, got null/);
});

test('metadata.targets: a non-empty array of distinct engine ids', () => {
  assert.deepEqual(checkTargets({ targets: [2, 0] }), [2, 0]);
  const cases: [unknown, RegExp][] = [
    [undefined, /metadata\.targets must be an array of engine ids \(integers\), got nothing/],
    ['0', /got "0"/],
    [[], /metadata\.targets is empty: name at least one engine id/],
    [[0, -1], /but element 1 is -1/],
    [[0, 1.5], /but element 1 is 1\.5/],
    [[1, 1], /names an engine more than once: \[1,1\]/],
  ];
  for (const [targets, words] of cases) {
    assert.throws(() => checkTargets({ targets } as never), (e: unknown) => e instanceof WireError && e.ename === 'ProtocolError' && words.test(e.message), JSON.stringify(targets));
  }
});

test('replies relayed by the controller: status checked, the rest left to the receiver', () => {
  assert.doesNotThrow(() => checkReply({ status: 'ok' } as never));
  assert.doesNotThrow(() => checkReply({ status: 'aborted' } as never));
  assert.throws(() => checkReply({ status: 'error', evalue: 'x' } as never), /ename must be a string, got nothing/);
  assert.throws(() => checkReply({} as never), /status must be 'ok', 'error' or 'aborted', got nothing/);
});

test('msg_types that are not the protocol\'s are not msg_types, whatever Object.prototype has', () => {
  for (const t of ['x', '', '__proto__', 'constructor', 'toString', 'hasOwnProperty']) assert.equal(isMsgType(t), false, t);
});

test('envelope fields: parent msg_id, parent header, engine_id, and a message of the expected type', () => {
  const req = createMessage('execute_request', { code: '1' }, { session: 's' });
  const rep = createMessage('execute_reply', { status: 'ok', execution_count: 1 }, { session: 's', parent: req.header, metadata: { engine_id: 3 } });
  assert.equal(parentIdOf(rep as Message), req.header.msg_id);
  assert.equal(parentIdOf(req as Message), undefined);
  assert.equal(checkParent(rep as Message).msg_id, req.header.msg_id);
  assert.throws(() => checkParent(req as Message), /parent_header must be a message header/);
  assert.equal(engineIdOf(rep.metadata), 3);
  assert.equal(engineIdOf({ engine_id: '3' } as never), undefined);
  assert.equal(checkMessage(rep as Message, 'execute_reply'), rep);
  assert.throws(() => checkMessage(req as Message, 'execute_reply'), /expected execute_reply, got "execute_request"/);
});

test('metadata.balanced: the known fields back, a ValueError naming the field for a bad one', () => {
  assert.deepEqual(checkBalanced('apply_request', { balanced: {} }), {});
  assert.deepEqual(
    checkBalanced('execute_request', { balanced: { pool: [2, 0, 2], retries: 3, timeout_ms: 50, after: ['a'], follow: ['b'], success_only: true, label: 'x', extra: 1 } as never }),
    { pool: [2, 0], retries: 3, timeout_ms: 50, after: ['a'], follow: ['b'], success_only: true, label: 'x' },
  );
  const cases: [string, unknown, RegExp][] = [
    ['push_request', {}, /push_request cannot be load-balanced: only apply_request and execute_request can/],
    ['apply_request', 'yes', /metadata\.balanced must be an object/],
    ['apply_request', { pool: [] }, /metadata\.balanced\.pool must be a non-empty array of engine ids, got \[\]/],
    ['apply_request', { pool: [0, 'one'] }, /metadata\.balanced\.pool must be an array of engine ids \(whole numbers\), but element 1 is "one"/],
    ['apply_request', { retries: -1 }, /metadata\.balanced\.retries must be a whole number from 0 to 1000, got -1/],
    ['apply_request', { retries: 1.5 }, /retries must be a whole number/],
    ['apply_request', { timeout_ms: 0 }, /metadata\.balanced\.timeout_ms must be a whole number of milliseconds above 0, got 0/],
    ['apply_request', { after: 'm1' }, /metadata\.balanced\.after must be an array of at most 10000 msg_id strings, got "m1"/],
    ['apply_request', { follow: [''] }, /metadata\.balanced\.follow must be an array/],
    ['apply_request', { success_only: 'yes' }, /metadata\.balanced\.success_only must be true or false, got "yes"/],
    ['apply_request', { label: 7 }, /metadata\.balanced\.label must be a string/],
  ];
  for (const [type, balanced, words] of cases) {
    assert.throws(() => checkBalanced(type, { balanced } as never), (e: unknown) => e instanceof WireError && e.ename === 'ValueError' && words.test(e.message), JSON.stringify(balanced));
  }
  assert.throws(() => checkBalanced('apply_request', { balanced: {}, targets: [0] }), /must not name metadata\.targets: use metadata\.balanced\.pool/);
  // A map's tasks name their map (for task events); a malformed one is named.
  assert.deepEqual(checkBalanced('apply_request', { balanced: { map: { id: 'm', items: 10, chunk: 3, more: 1 } } as never }), { map: { id: 'm', items: 10, chunk: 3 } });
  for (const map of [{ id: 'm', items: 10, chunk: 0 }, { id: 'x'.repeat(65), items: 1, chunk: 1 }, { id: 'm', items: 1.5, chunk: 1 }, 'm']) {
    assert.throws(() => checkBalanced('apply_request', { balanced: { map } } as never), /metadata\.balanced\.map must be \{id: a string of at most 64 characters, items: a whole number, chunk: a whole number ≥ 1\}/, JSON.stringify(map));
  }
});
