/**
 * The task stores (core/controller/taskDb): memory and SQLite behave the same on records,
 * filters, history, purges and caps (oldest first); SQLite keeps stored values and reopens with
 * its records; a file that is not a database is refused at open, and TaskDb falls back to memory.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { TaskFilter, TaskRecord } from '../../../core/protocol/messages.ts';
import { MemoryStore } from '../../../core/controller/taskDb/memoryStore.ts';
import { matches } from '../../../core/controller/taskDb/query.ts';
import { SqliteStore } from '../../../core/controller/taskDb/sqliteStore.ts';
import { TaskDb } from '../../../core/controller/taskDb/taskDb.ts';
import { Recorder } from '../../../core/controller/taskDb/recorder.ts';
import { AT_ONCE } from '../../../core/controller/taskDb/writeQueue.ts';
import type { Caps, TaskStore } from '../../../core/controller/taskDb/taskStore.ts';
import { packMessages, unpackMessages } from '../../../core/controller/taskDb/valueBlob.ts';
import { until } from '../../harness/poll.ts';
import { columnsReport } from '../../harness/columnsReport.ts';

function tmpFile(): { file: string; done(): void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'multiengine-taskdb-'));
  return { file: path.join(dir, 'tasks.db'), done: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

function record(i: number, over: Partial<TaskRecord> = {}): TaskRecord {
  const t = (ms: number) => new Date(Date.UTC(2026, 0, 1) + i * 1000 + ms).toISOString();
  return {
    msg_id: `m${i}`,
    engine_id: i % 3,
    client: 1,
    msg_type: i % 2 ? 'apply_request' : 'execute_request',
    label: null,
    code: `${i} + 1`,
    balanced: i % 2 === 1,
    status: i % 5 === 0 ? 'error' : 'ok',
    submitted: t(0),
    received: t(1),
    started: t(2),
    completed: t(3),
    ename: i % 5 === 0 ? 'TypeError' : null,
    evalue: i % 5 === 0 ? 'bad' : null,
    traceback: i % 5 === 0 ? ['at line 1', 'at line 2'] : null,
    result_bytes: 100 + i,
    stdout: `out ${i}\n`,
    stderr: '',
    ...over,
  };
}

const FILTERS: TaskFilter[] = [
  {},
  { status: 'error' },
  { engine_id: { $in: [0, 2] }, balanced: false },
  { completed: { $gt: record(4).completed!, $lte: record(12).completed! } },
  { msg_type: { $ne: 'apply_request' }, result_bytes: { $gte: 110 } },
  { ename: null },
  { ename: { $ne: null } },
  { msg_id: { $nin: ['m1', 'm2'] }, engine_id: { $lt: 1 } },
  { engine_id: { $in: [] } },
];

const stores: [string, (caps: Caps) => { store: TaskStore; done(): void }][] = [
  ['memory', (caps) => ({ store: new MemoryStore(caps), done: () => undefined })],
  [
    'sqlite',
    (caps) => {
      const t = tmpFile();
      const store = new SqliteStore(t.file, caps);
      return { store, done: () => (store.close(), t.done()) };
    },
  ],
];

for (const [name, open] of stores) {
  test(`${name} store: records come back as written; filters select what matches() selects; keys limit the fields`, () => {
    const { store, done } = open({ maxRows: 1000, maxBytes: 1 << 30 });
    try {
      const rs = Array.from({ length: 20 }, (_, i) => record(i));
      store.write(rs.slice(0, 10), []);
      store.write(rs.slice(10), []);
      assert.deepEqual(store.query({}), rs);
      for (const f of FILTERS) assert.deepEqual(store.query(f), rs.filter((r) => matches(r, f)), JSON.stringify(f));
      assert.ok(store.query({ status: 'error' }).length === 4);
      assert.deepEqual(store.query({ msg_id: 'm5' }, ['status', 'traceback']), [{ msg_id: 'm5', engine_id: 2, status: 'error', traceback: ['at line 1', 'at line 2'] }]);
      // last: the newest matching records, still oldest first; more than there are is all of them.
      assert.deepEqual(store.query({}, undefined, 3), rs.slice(-3));
      assert.deepEqual(store.query({ status: 'error' }, ['status'], 2), rs.filter((r) => r.status === 'error').slice(-2).map((r) => ({ msg_id: r.msg_id, engine_id: r.engine_id, status: r.status })));
      assert.deepEqual(store.query({}, undefined, rs.length + 5), rs);
      assert.deepEqual(store.history(), rs.map((r) => r.msg_id));
      assert.equal(store.counts().rows, 20);
    } finally {
      done();
    }
  });

  test(`${name} store: history is in the order requests were submitted, not the order their records came`, () => {
    const { store, done } = open({ maxRows: 1000, maxBytes: 1 << 30 });
    try {
      // m2 finished first on another engine (its record came first); m1 was submitted before it.
      // m1 ran on two engines (two records); m3 has no header date and goes by when it was received.
      const m3 = record(3);
      store.write([record(2), record(1, { engine_id: 2 }), record(3, { submitted: null, received: m3.received }), record(1)], []);
      store.write([record(0, { submitted: record(5).submitted })], []); // a clock that says later
      assert.deepEqual(store.history(), ['m1', 'm2', 'm3', 'm0']);
      // Same submitted time: in the order recorded.
      store.write([record(7, { msg_id: 'b', submitted: record(9).submitted }), record(7, { msg_id: 'a', submitted: record(9).submitted })], []);
      assert.deepEqual(store.history().slice(-2), ['b', 'a']);
    } finally {
      done();
    }
  });

  test(`${name} store: purge by msg_id, by target, all`, () => {
    const { store, done } = open({ maxRows: 1000, maxBytes: 1 << 30 });
    try {
      store.write([record(1), record(2), record(1, { engine_id: 2 }), record(3)], []);
      assert.equal(store.purge(['m1'], [2]), 1);
      assert.deepEqual(store.query({}).map((r) => [r.msg_id, r.engine_id]), [
        ['m1', 1],
        ['m2', 2],
        ['m3', 0],
      ]);
      assert.equal(store.purge(['m2', 'nothing']), 1);
      assert.equal(store.purge([]), 0);
      assert.equal(store.purge('all'), 2);
      assert.deepEqual(store.history(), []);
      assert.deepEqual(store.counts().rows, 0);
    } finally {
      done();
    }
  });

  test(`${name} store: caps on rows and bytes hold, the oldest records go first (100,000 records)`, () => {
    const { store, done } = open({ maxRows: 5000, maxBytes: 1 << 30 });
    try {
      for (let b = 0; b < 100; b++) store.write(Array.from({ length: 1000 }, (_, i) => record(b * 1000 + i)), []);
      const c = store.counts();
      assert.equal(c.rows, 5000);
      assert.equal(c.evicted, 95_000);
      const h = store.history();
      assert.equal(h[0], 'm95000');
      assert.equal(h.at(-1), 'm99999');
    } finally {
      done();
    }
    const small = open({ maxRows: 1_000_000, maxBytes: 20_000 });
    try {
      for (let i = 0; i < 500; i++) small.store.write([record(i, { stdout: 'x'.repeat(500) })], []);
      const c = small.store.counts();
      assert.ok(c.bytes <= 20_000, `bytes ${c.bytes} within the cap`);
      assert.ok(c.rows > 0 && c.rows < 500);
      assert.equal(small.store.history().at(-1), 'm499');
      assert.equal(c.rows + c.evicted, 500);
    } finally {
      small.done();
    }
  });
}

for (const [name, open] of stores) {
  test(`${name} store: kept requests (for resubmit) come back as written, go with a purge, and count in the caps`, () => {
    const req = (i: number) => ({ msg_id: `m${i}`, msg_type: 'apply_request', metadata: '{"targets":[0]}', content: `{"fn":"(x) => x","args":[${i}]}`, buffers: [new Uint8Array([i, 1, 2])] });
    const { store, done } = open({ maxRows: 3, maxBytes: 1 << 20 });
    try {
      store.write([record(1)], [], [req(1), req(2)]);
      const r = store.request('m2')!;
      assert.deepEqual({ ...r, buffers: r.buffers.map((b) => [...b]) }, { ...req(2), buffers: [[2, 1, 2]] });
      assert.equal(store.request('m9'), undefined);
      store.write([], [], [req(3), req(4)]);
      assert.equal(store.request('m1'), undefined, 'the oldest request went: 3 at most');
      assert.ok(store.request('m4'));
      assert.equal(store.purge(['m4']), 0, 'no record of m4, yet its request goes');
      assert.equal(store.request('m4'), undefined);
      store.purge('all');
      assert.equal(store.request('m3'), undefined);
      assert.equal(store.counts().bytes, 0);
    } finally {
      done();
    }
  });
}

test('sqlite store: stored values round-trip; records and values are still there when the file is opened again; the byte cap drops values first', () => {
  const t = tmpFile();
  try {
    const messages = [
      [Buffer.from('sig'), Buffer.from('{"h":1}'), Buffer.from('{}'), Buffer.from('{}'), Buffer.from('{"text":"hi"}')],
      [Buffer.from('sig2'), Buffer.from('{"h":2}'), Buffer.from('{}'), Buffer.from('{}'), Buffer.from('{}'), new Uint8Array([0, 1, 2, 255])],
    ];
    let s = new SqliteStore(t.file, { maxRows: 100, maxBytes: 1 << 20 });
    s.write([record(1)], [{ msg_id: 'm1', msg_type: 'execute_request', engine_ids: [0, 1], messages }]);
    s.close();
    s = new SqliteStore(t.file, { maxRows: 100, maxBytes: 1 << 20 });
    assert.deepEqual(s.query({}), [record(1)]);
    const v = s.value('m1')!;
    assert.deepEqual([v.msg_id, v.msg_type, v.engine_ids], ['m1', 'execute_request', [0, 1]]);
    assert.deepEqual(v.messages.map((m) => m.map((p) => [...p])), messages.map((m) => m.map((p) => [...p])));
    assert.equal(s.value('m2'), undefined);
    assert.ok(s.counts().bytes > 0);
    s.close();
    // A cap too small for the value: the value goes, the record stays.
    s = new SqliteStore(t.file, { maxRows: 100, maxBytes: 300 });
    s.write([record(2)], []);
    assert.equal(s.value('m1'), undefined);
    assert.deepEqual(s.history(), ['m1', 'm2']);
    s.close();
  } finally {
    t.done();
  }
});

test('sqlite store: a batch of 70 records (two 32-row inserts and six single ones) comes back whole and in order, counted, within the row cap', () => {
  const t = tmpFile();
  try {
    const s = new SqliteStore(t.file, { maxRows: 65, maxBytes: 1 << 24 });
    const batch = Array.from({ length: 70 }, (_, i) => record(i, { label: i % 7 === 0 ? `l${i}` : null }));
    s.write(batch, []);
    assert.deepEqual(s.query({}), batch.slice(5), 'the 5 oldest went for the row cap; the rest as written');
    assert.equal(s.counts().rows, 65);
    assert.equal(s.counts().evicted, 5);
    s.close();
  } finally {
    t.done();
  }
});

test('value blobs: packed and unpacked unchanged; a cut blob is refused', () => {
  const m = [[new Uint8Array([1, 2]), new Uint8Array([])], [], [new Uint8Array(300).fill(7)]];
  const blob = packMessages(m);
  assert.deepEqual(unpackMessages(blob).map((x) => x.map((p) => [...p])), m.map((x) => x.map((p) => [...p])));
  assert.throws(() => unpackMessages(blob.subarray(0, blob.byteLength - 1)), /cut short/);
});

test('sqlite store: a file that is not a database is refused at open', () => {
  const t = tmpFile();
  try {
    fs.writeFileSync(t.file, 'not a database '.repeat(100));
    assert.throws(() => new SqliteStore(t.file, { maxRows: 10, maxBytes: 1 << 20 }), /file is not a database/);
  } finally {
    t.done();
  }
});

test('TaskDb: sqlite through its worker thread; a corrupt file falls back to memory with the reason in its status', async () => {
  const t = tmpFile();
  try {
    const db = new TaskDb({ backend: 'sqlite', file: t.file, caps: { maxRows: 100, maxBytes: 1 << 20 } });
    db.write([record(1), record(2)], []);
    assert.deepEqual((await db.query({ msg_id: 'm2' }, ['status'])).map((r) => r.status), ['ok']);
    assert.deepEqual(await db.history(), ['m1', 'm2']);
    assert.equal(await db.purge(['m1']), 1);
    await until(() => db.status().rows === 1, 5000, 'the worker to report 1 row');
    assert.equal(db.status().backend, 'sqlite');
    await db.close();

    fs.writeFileSync(t.file, 'not a database '.repeat(100));
    const bad = new TaskDb({ backend: 'sqlite', file: t.file, caps: { maxRows: 100, maxBytes: 1 << 20 } });
    await until(() => bad.status().backend === 'memory', 5000, 'the fallback to memory');
    assert.match(bad.status().fallback!, /file is not a database/);
    bad.write([record(3)], []);
    assert.deepEqual(await bad.history(), ['m3']);
    await bad.close();
  } finally {
    t.done();
  }
});

/**
 * A controller whose disk fills mid-run: TaskDb in a child process whose file-size limit
 * (RLIMIT_FSIZE, SIGXFSZ ignored so a write past it fails with EFBIG as on a full disk) lets the
 * database start and then stops it growing. Prints its status as JSON lines.
 */
function fillsUp(file: string): { statuses: { backend: string; rows: number; fallback?: string; history?: string[] }[]; stderr: string } {
  const script = `
    import { TaskDb } from ${JSON.stringify(new URL('../../../core/controller/taskDb/taskDb.ts', import.meta.url).href)};
    const db = new TaskDb({ backend: 'sqlite', file: ${JSON.stringify(file)}, caps: { maxRows: 1e6, maxBytes: 1e9 } });
    const at = new Date().toISOString();
    const rec = (i) => ({ msg_id: 'm' + i, engine_id: 0, client: 1, msg_type: 'execute_request', label: null, code: 'x'.repeat(200), balanced: false, status: 'ok',
      submitted: at, received: at, started: at, completed: at, ename: null, evalue: null, traceback: null, result_bytes: 10, stdout: 'out', stderr: '' });
    const wait = (ms) => new Promise((r) => setTimeout(r, ms));
    let i = 0;
    const batch = () => db.write(Array.from({ length: 50 }, () => rec(++i)), []);
    const until = Date.now() + 30_000;
    batch();
    while (db.status().rows === 0 && db.status().backend === 'sqlite' && Date.now() < until) await wait(10);
    console.log(JSON.stringify(db.status()));
    while (db.status().backend === 'sqlite' && Date.now() < until) {
      batch();
      await wait(10);
    }
    db.write([rec(++i)], []);
    console.log(JSON.stringify({ ...db.status(), history: await db.history() }));
    await db.close();`;
  const limit = `import resource, signal, os, sys; signal.signal(signal.SIGXFSZ, signal.SIG_IGN); resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, 64 * 1024)); os.execv(sys.argv[1], sys.argv[1:])`;
  const r = spawnSync('python3', ['-c', limit, process.execPath, '--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8', timeout: 60_000 });
  return { statuses: r.stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l)), stderr: r.stderr };
}

test('TaskDb: a write that fails mid-run (the disk fills up; /dev/full) falls back to memory once, and recording goes on', async () => {
  const t = tmpFile();
  try {
    const { statuses, stderr } = fillsUp(t.file);
    const last = statuses.at(-1)!;
    assert.ok(statuses.some((s) => s.backend === 'sqlite' && s.rows > 0), `records were written before the disk filled: ${stderr}`);
    assert.equal(last.backend, 'memory', stderr);
    assert.match(last.fallback!, /I\/O|full|disk/);
    assert.deepEqual(last.history!.length, 1, 'the record after the fallback is kept in memory');
    assert.equal(stderr.match(/cannot be used/g)?.length, 1, `one log line: ${stderr}`);
  } finally {
    t.done();
  }
  const full = new TaskDb({ backend: 'sqlite', file: '/dev/full', caps: { maxRows: 100, maxBytes: 1 << 20 } });
  await until(() => full.status().backend === 'memory', 5000, 'the fallback on /dev/full');
  assert.match(full.status().fallback!, /I\/O|full/);
  await full.close();
});

test('TaskDb: a lock left by a controller killed mid-write is cleared when its process is gone; a live owner keeps it (this one falls back to memory)', async () => {
  const t = tmpFile();
  const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
  try {
    const first = new TaskDb({ backend: 'sqlite', file: t.file, caps: { maxRows: 100, maxBytes: 1 << 20 } });
    first.write([record(1)], []);
    await until(() => first.status().rows === 1, 5000, 'the first write');
    await first.close();
    // As a SIGKILL mid-transaction leaves it: the lock, and the pid of a process that is gone.
    const gone = spawnSync(process.execPath, ['-e', 'console.log(process.pid)'], { encoding: 'utf8' });
    fs.mkdirSync(`${t.file}.lock`);
    fs.writeFileSync(`${t.file}.pid`, gone.stdout.trim());
    const second = new TaskDb({ backend: 'sqlite', file: t.file, caps: { maxRows: 100, maxBytes: 1 << 20 } });
    second.write([record(2)], []);
    assert.deepEqual(await second.history(), ['m1', 'm2']);
    assert.equal(second.status().backend, 'sqlite');
    await second.close();

    fs.mkdirSync(`${t.file}.lock`);
    fs.writeFileSync(`${t.file}.pid`, String(child.pid));
    const third = new TaskDb({ backend: 'sqlite', file: t.file, caps: { maxRows: 100, maxBytes: 1 << 20 } });
    third.write([record(3)], []);
    await until(() => third.status().backend === 'memory', 5000, 'the fallback while another controller holds the file');
    assert.match(third.status().fallback!, /locked/);
    assert.ok(fs.existsSync(`${t.file}.lock`), "a live owner's lock is left alone");
    assert.equal(fs.readFileSync(`${t.file}.pid`, 'utf8'), String(child.pid), 'and so is its claim');
    await third.close();
  } finally {
    child.kill('SIGKILL');
    t.done();
  }
});

test('TaskDb (sqlite): a flood of records faster than the worker writes them is held within its limits; the oldest waiting are dropped and counted in the status', async () => {
  const t = tmpFile();
  try {
    const db = new TaskDb({ backend: 'sqlite', file: t.file, caps: { maxRows: 1e6, maxBytes: 1e9 }, writeLimits: { inFlight: 100, held: 1000, heldBytes: 1 << 30 }, gathering: AT_ONCE });
    // One synchronous burst: the worker cannot acknowledge a batch until this loop gives way.
    for (let b = 0; b < 50; b++) db.write(Array.from({ length: 100 }, (_, k) => record(b * 100 + k + 1)), []);
    assert.equal(db.status().dropped, 5000 - 100 - 1000);
    await until(() => db.status().rows === 1100, 10_000, 'the held records written');
    const ids = await db.history();
    assert.deepEqual([ids[0], ids[99], ids[100], ids.at(-1)], ['m1', 'm100', 'm4001', 'm5000'], 'the first batch, then the newest');
    await db.close();
  } finally {
    t.done();
  }
});

test('TaskDb (sqlite): writes gathered for the worker are posted before any read, so queries, history and values never read stale', async () => {
  const t = tmpFile();
  try {
    // An interval no test waits for: only the reads' flush can post these writes.
    const db = new TaskDb({ backend: 'sqlite', file: t.file, caps: { maxRows: 1e6, maxBytes: 1e9 }, gathering: { quietMs: 600_000, everyMs: 600_000, rows: 1e6 } });
    db.write([record(1), record(2)], []);
    assert.deepEqual((await db.query({})).map((r) => r.msg_id), ['m1', 'm2']);
    db.write([record(3)], [{ msg_id: 'm3', msg_type: 'apply_request', engine_ids: [0], messages: [[new Uint8Array([1, 2, 3])]] }]);
    assert.deepEqual(await db.history(), ['m1', 'm2', 'm3']);
    db.write([record(4)], []);
    assert.equal((await db.value('m3'))?.engine_ids[0], 0);
    assert.equal(await db.purge('all'), 4, 'a purge sees what was written just before it');
    await db.close();
  } finally {
    t.done();
  }
});

test("TaskDb: engines' reports are read where the records are made (the SQLite worker, or here for memory); a malformed one is named as dropped and the good ones are kept", async () => {
  const t = tmpFile();
  const good = ['m1', 'apply_request', 'sess-a', null, '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.001Z', '2026-01-01T00:00:00.002Z', 'ok', 7, 'f', null];
  const again = ['m2', 'apply_request', 'sess-a', null, '2026-01-01T00:00:01.000Z', '2026-01-01T00:00:01.001Z', '2026-01-01T00:00:01.002Z', 'error', 0, 'f', 'lbl', null, 'warn', 'E', 'bad'];
  try {
    for (const backend of ['sqlite', 'memory'] as const) {
      const dropped: string[] = [];
      const db = new TaskDb({ backend, file: t.file, caps: { maxRows: 100, maxBytes: 1 << 20 }, dropped: (why) => dropped.push(why) });
      db.client('sess-a', 4);
      assert.equal(db.readsReports, backend === 'sqlite');
      const reports = [
        { engine: 2, n: 2, bytes: columnsReport([good, again]) },
        { engine: 3, n: 1, bytes: columnsReport([[...good.slice(0, 7), 'fine', ...good.slice(8)]]) },
      ];
      db.write([], [], [], backend === 'sqlite' ? reports : []);
      if (backend === 'memory') for (const r of reports) db.write(db.directRecords(r), []);
      await until(() => dropped.length === 1, 5000, `${backend}: the malformed report named`);
      assert.match(dropped[0], /^engine 3 sent a malformed task_report: entry 0: status must be 'ok', 'error' or 'aborted', got "fine"$/);
      const rows = await db.query({});
      assert.deepEqual(
        rows.map((r) => [r.msg_id, r.engine_id, r.client, r.code, r.label, r.status, r.ename, r.evalue, r.stdout, r.stderr, r.result_bytes]),
        [
          ['m1', 2, 4, 'f', null, 'ok', null, null, '', '', 7],
          ['m2', 2, 4, 'f', 'lbl', 'error', 'E', 'bad', '', 'warn', 0],
        ],
        `${backend}: a code repeated as 0 is put back; the client is named from its session`,
      );
      await db.close();
      fs.rmSync(t.file, { force: true });
    }
  } finally {
    t.done();
  }
});

test("Recorder: a report's bytes move to the SQLite worker without a copy when they have their own buffer; a view into a larger read is copied, so the read stays whole", async () => {
  const t = tmpFile();
  const entries = (id: string) => columnsReport([[id, 'apply_request', 'sess-a', null, '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.001Z', '2026-01-01T00:00:00.002Z', 'ok', 7, 'f', null]]);
  const db = new TaskDb({ backend: 'sqlite', file: t.file, caps: { maxRows: 100, maxBytes: 1 << 20 } });
  try {
    const recorder = new Recorder(db);
    const own = entries('own');
    const inner = entries('viewed');
    // As a socket read holding the report among other bytes (frame.ts's zero-copy slices).
    const read = Buffer.concat([Buffer.from('before'), inner, Buffer.from('after')]);
    const view = read.subarray(6, 6 + inner.byteLength);
    recorder.reported(0, 1, own);
    recorder.reported(1, 1, view);
    recorder.flush();
    const rows = await db.query({});
    assert.deepEqual(rows.map((r) => [r.msg_id, r.engine_id]), [['own', 0], ['viewed', 1]]);
    assert.equal(own.byteLength, 0, 'its own buffer was transferred to the worker (detached here), not copied');
    assert.equal(read.byteLength, 6 + inner.byteLength + 5, 'the read it was a view of is intact');
    assert.equal(read.subarray(0, 6).toString(), 'before');
    assert.equal(read.subarray(6, 6 + inner.byteLength).toString(), new TextDecoder().decode(inner));
  } finally {
    await db.close();
    t.done();
  }
});
