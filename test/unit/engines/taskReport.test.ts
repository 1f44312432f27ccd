/** The node engine's task_report batching (engines/node/taskReport.ts), with a real timer and a collecting send. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import v8 from 'node:v8';
import vm from 'node:vm';
import { directEntries } from '../../../core/protocol/directEntries.ts';
import { createMessage, DIRECT_ENTRY_FIELDS, DIRECT_ENTRY_REQUIRED, type Message } from '../../../core/protocol/messages.ts';
import { CODE_CHARS } from '../../../core/protocol/taskText.ts';
import { encodeMessageFrame, Signer } from '../../../core/transport/codec.ts';
import { BUSY_MS, OUTPUT_CHARS, REPORT_OUTPUT_CHARS, TASK_REPORT_MAX, TASK_REPORT_MS, TaskReport, type DirectOutput } from '../../../engines/node/taskReport.ts';
import { until } from '../../harness/poll.ts';

type Entry = Partial<Record<(typeof DIRECT_ENTRY_FIELDS)[number], string | number | null>>;

/** A report's entries as the controller reads them (directEntries checks each), named by field; optional fields only when set. */
function named(content: { n: number }, buffers: Uint8Array[]): Entry[] {
  assert.equal(buffers.length, 1, 'the entries travel in one buffer');
  return directEntries(buffers[0], content.n).map((t) => {
    const e: Entry = {};
    t.forEach((v, i) => {
      if (i < DIRECT_ENTRY_REQUIRED || v !== null) e[DIRECT_ENTRY_FIELDS[i]] = v;
    });
    return e;
  });
}

function collecting(ok = true, busy = () => false): { reports: Entry[][]; report: TaskReport } {
  const reports: Entry[][] = [];
  const report = new TaskReport((r) => {
    reports.push(named(r.content, r.buffers));
    return ok;
  }, busy);
  report.enabled = true;
  return { reports, report };
}

function request(code: string, label?: string): Message {
  return createMessage('execute_request', { code }, { session: 'client-session', metadata: label === undefined ? { targets: [0] } : { targets: [0], label } });
}

/** The head of the reply's frame, as the engine sends it: its parent is the request's header, its metadata holds the times. */
function replyHead(req: Message, outcome: object): Buffer {
  const metadata = { engine_id: 0, received: '2026-01-01T00:00:00.000Z', started: '2026-01-01T00:00:00.001Z', completed: '2026-01-01T00:00:00.002Z' };
  return encodeMessageFrame(createMessage('execute_reply', outcome as never, { session: 'engine-session', parent: req.header, metadata }), new Signer('key')).head;
}

function add(report: TaskReport, req: Message, outcome: object = { status: 'ok' }, bytes = 10, output: DirectOutput | null = null): void {
  report.add(req, replyHead(req, outcome), outcome, bytes, output);
}

test('off until the controller asks: nothing is kept or sent', () => {
  const { reports, report } = collecting();
  report.enabled = false;
  add(report, request('1'));
  report.flush();
  assert.deepEqual([reports.length, report.waiting, report.sent], [0, 0, 0]);
});

test('the first request after a quiet moment goes out right after its reply (not in the same tick); the entry carries what the record needs', async () => {
  const { reports, report } = collecting();
  const req = request('6 * 7', 'mine');
  add(report, req, { status: 'ok', execution_count: 1 }, 123);
  assert.equal(reports.length, 0, 'not in the tick that queued the reply');
  await until(() => reports.length === 1, 2000, 'the report');
  assert.deepEqual(reports[0], [
    {
      msg_id: req.header.msg_id,
      msg_type: 'execute_request',
      session: 'client-session',
      submitted: req.header.date,
      received: '2026-01-01T00:00:00.000Z',
      started: '2026-01-01T00:00:00.001Z',
      completed: '2026-01-01T00:00:00.002Z',
      status: 'ok',
      result_bytes: 123,
      code: '6 * 7',
      label: 'mine',
    },
  ]);
  assert.equal(report.sent, 1);
});

test('within the interval, requests wait and go out together when the timer fires', async () => {
  const { reports, report } = collecting();
  add(report, request('a'));
  await until(() => reports.length === 1, 2000, 'the first report');
  add(report, request('b')); // too soon after the last report: held
  add(report, request('c'));
  await new Promise((r) => setImmediate(r));
  assert.equal(reports.length, 1);
  assert.equal(report.waiting, 2);
  await until(() => reports.length === 2, 2000, 'the timed report');
  assert.deepEqual(reports[1].map((t) => t.code), ['b', 'c']);
  assert.equal(report.sent, 3);
});

test(`${TASK_REPORT_MAX} waiting requests go out in one report in the next tick, after the replies were written`, async () => {
  const { reports, report } = collecting();
  add(report, request('first'));
  report.flush();
  for (let i = 0; i < TASK_REPORT_MAX; i++) add(report, request(String(i)));
  assert.equal(reports.length, 1, 'nothing is made or sent in the tick of the replies');
  assert.equal(report.waiting, TASK_REPORT_MAX);
  await new Promise((r) => process.nextTick(r));
  assert.equal(reports.length, 2);
  assert.equal(reports[1].length, TASK_REPORT_MAX);
  assert.deepEqual(reports[1].slice(0, 3).map((t) => t.code), ['0', '1', '2']);
  assert.equal(report.waiting, 0);
});

test('while the engine has requests to run, the report waits for it to go idle', async () => {
  let busy = true;
  const { reports, report } = collecting(true, () => busy);
  add(report, request('a'));
  await new Promise((r) => setTimeout(r, 3 * TASK_REPORT_MS));
  assert.equal(reports.length, 0, 'no report in the middle of a burst');
  busy = false;
  await until(() => reports.length === 1, 2000, 'the report once the engine is idle');
  assert.deepEqual(reports[0].map((t) => t.code), ['a']);
});

test(`a busy engine still reports after ${BUSY_MS} ms`, async () => {
  const { reports, report } = collecting(true, () => true);
  const t0 = performance.now();
  add(report, request('a'));
  add(report, request('b'));
  await until(() => reports.length === 1, BUSY_MS + 2000, 'the report while busy');
  assert.ok(performance.now() - t0 >= BUSY_MS - 5, `sent after ${(performance.now() - t0).toFixed(0)} ms`);
  assert.deepEqual(reports[0].map((t) => t.code), ['a', 'b']);
});

test(`a busy engine's report goes in the tick after its requests printed ${REPORT_OUTPUT_CHARS} characters`, async () => {
  const { reports, report } = collecting(true, () => true);
  const printed = { stdout: 'o'.repeat(OUTPUT_CHARS), stderr: 'e'.repeat(OUTPUT_CHARS) };
  const n = Math.ceil(REPORT_OUTPUT_CHARS / (2 * OUTPUT_CHARS));
  for (let i = 0; i < n - 1; i++) add(report, request(`p${i}`), { status: 'ok' }, 10, printed);
  await new Promise((r) => setImmediate(r));
  assert.equal(reports.length, 0, 'below the limit, a busy engine keeps its report');
  add(report, request('last'), { status: 'ok' }, 10, printed);
  await new Promise((r) => setImmediate(r));
  assert.equal(reports.length, 1, 'at the limit it goes');
  assert.equal(reports[0].length, n);
  assert.equal(reports[0][n - 1].stdout, printed.stdout);
});

test('errors keep ename and a truncated evalue; code is truncated as the recorder does; aborted has no error', () => {
  const { reports, report } = collecting();
  add(report, request('x'.repeat(CODE_CHARS + 10)), { status: 'error', ename: 'TypeError', evalue: 'v'.repeat(5000), traceback: ['a'] });
  add(report, request('y'), { status: 'aborted' });
  report.flush();
  const [err, aborted] = reports[0];
  assert.equal(err.status, 'error');
  assert.equal(err.ename, 'TypeError');
  assert.equal(String(err.evalue).length, 1024);
  assert.equal(String(err.code).length, CODE_CHARS);
  assert.deepEqual([aborted.status, aborted.ename, aborted.evalue], ['aborted', undefined, undefined]);
});

test('with no controller connection the report is dropped and not counted', () => {
  const { reports, report } = collecting(false);
  add(report, request('1'));
  report.flush();
  assert.deepEqual([reports.length, report.sent, report.waiting], [1, 0, 0]);
});

test('what a request printed goes with its entry only, each stream as far as it printed', () => {
  const { reports, report } = collecting();
  add(report, request('print'), { status: 'ok' }, 10, { stderr: 'warn\n' });
  add(report, request('quiet'));
  report.flush();
  assert.deepEqual(reports[0].map((t) => [t.code, t.stdout, t.stderr]), [
    ['print', undefined, 'warn\n'],
    ['quiet', undefined, undefined],
  ]);
});

test('the columns form: headers and metadata as the reply frame carried them, and a row only where the code changes or there is more to say', () => {
  const sent: Uint8Array[] = [];
  const { reports, report } = collecting();
  const inner = (report as unknown as { send: (r: { content: { n: number }; buffers: Uint8Array[] }) => boolean }).send;
  (report as unknown as { send: typeof inner }).send = (r) => {
    sent.push(r.buffers[0]);
    return inner(r);
  };
  const reqs = ['f', 'f', 'g', 'f', 'f', 'f'].map((code, i) => request(code, i === 4 ? 'named' : undefined));
  for (const [i, req] of reqs.entries()) add(report, req, i === 5 ? { status: 'error', ename: 'E', evalue: 'bad' } : { status: 'ok' });
  report.flush();
  const [headers, metadata, sizes, rows] = Buffer.from(sent[0]).toString('utf8').split('\x1d');
  assert.deepEqual(headers.split('\x1e').map((h) => JSON.parse(h) as unknown), reqs.map((r) => JSON.parse(JSON.stringify(r.header)) as unknown));
  assert.equal(metadata.split('\x1e').length, 6);
  assert.deepEqual(JSON.parse(sizes), [10, 10, 10, 10, 10, 10]);
  assert.deepEqual(JSON.parse(rows), [
    [0, 'f', null],
    [2, 'g', null],
    [3, 'f', null],
    [4, 0, 'named'],
    [5, 0, null, 'error', null, null, 'E', 'bad'],
  ]);
  assert.deepEqual(reports[0].map((t) => [t.code, t.label ?? null, t.status]), [
    ['f', null, 'ok'],
    ['f', null, 'ok'],
    ['g', null, 'ok'],
    ['f', null, 'ok'],
    ['f', 'named', 'ok'],
    ['f', null, 'error'],
  ]);
});

test('the columns start afresh with each report: its first entry has a row of its own', () => {
  const { reports, report } = collecting();
  add(report, request('f'));
  report.flush();
  add(report, request('f'));
  add(report, request('f'));
  report.flush();
  assert.deepEqual(reports.map((r) => r.map((t) => t.code)), [['f'], ['f', 'f']]);
});

test('a report longer than the first buffer of its columns comes back whole', () => {
  const { reports, report } = collecting();
  const session = 's'.repeat(3000); // 100 headers of 3 KB: past the 64 KiB a column starts with
  const reqs = Array.from({ length: 100 }, (_, i) => createMessage('execute_request', { code: `${i}` }, { session, metadata: { targets: [0] } }));
  for (const req of reqs) add(report, req);
  report.flush();
  assert.deepEqual(reports[0].map((t) => [t.msg_id, t.code, t.session]), reqs.map((r, i) => [r.header.msg_id, `${i}`, session]));
});

test('a request and its reply are let go in the tick after add: only its entry waits for the report', async () => {
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc') as () => void;
  const { reports, report } = collecting();
  add(report, request('first'));
  report.flush(); // the interval starts: the next report waits for it
  const refs = ((): WeakRef<object>[] => {
    const req = request('held?');
    const outcome = { status: 'ok', data: { big: 'x'.repeat(100_000) } };
    add(report, req, outcome);
    return [new WeakRef(req), new WeakRef(outcome)];
  })();
  await new Promise((r) => setImmediate(r));
  gc();
  assert.deepEqual(refs.map((r) => r.deref()), [undefined, undefined], 'neither the request nor the reply is kept until the report');
  assert.equal(report.waiting, 1);
  report.flush();
  assert.deepEqual(reports[1].map((t) => t.code), ['held?']);
});
