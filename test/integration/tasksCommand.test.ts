/**
 * `multiengine tasks` run as a user would, against real clusters: the table of every recorded
 * request, its filters (--status, --engine, --label), --last and --json; an empty database and
 * a filter matching nothing say so; a bad flag value is a usage error; a cluster started with
 * --db none says it keeps no records, and why.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { Client, type AsyncResult, type TaskRecord } from 'multiengine';
import { shortId } from '../../core/cli/tasksTable.ts';
import { startTestCluster, until, type TestCluster } from './fixture.ts';

const bin = path.resolve('bin/multiengine.js');

/** The CLI in a child process, asynchronously: the test's own client keeps its connection meanwhile. */
function tasksCli(tc: TestCluster, ...args: string[]): Promise<{ status: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [bin, 'tasks', '--profile', 'test', '--dir', tc.dir, ...args], { timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ status: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

/** The table's rows as cells (columns are separated by two spaces or more; no cell here holds two). */
function rows(stdout: string): string[][] {
  const lines = stdout.trimEnd().split('\n');
  assert.match(lines[0], /^msg_id +engine +method +label +status +submitted \(UTC\) +duration +code +error$/);
  return lines.slice(1).map((l) => l.split(/ {2,}/));
}

test('multiengine tasks: the table, --status, --engine, --label, --last and --json show the records they should', async () => {
  const tc = await startTestCluster({ n: 2 });
  // Single-engine requests through the controller, so each is recorded before its reply comes
  // (a direct connection's come from the engine's report: the next test).
  const rc = await Client.connect({ file: tc.cluster.connectionFile, direct: false });
  try {
    const empty = await tasksCli(tc);
    assert.equal(empty.status, 0, empty.stderr);
    assert.equal(empty.stdout, 'no task records yet: the task database of cluster "test" is empty\n');

    const both = rc.view([0, 1]).execute('1 + 1') as AsyncResult<unknown>;
    await both;
    const bad = rc.view(1).execute('throw new RangeError("too far")') as AsyncResult<unknown>;
    await assert.rejects(bad);
    const one = rc.view(0).apply((x: number) => x + 1, 1) as AsyncResult<number>;
    await one;
    const lb = rc.loadBalancedView();
    lb.label = 'x';
    const tripled = lb.apply(function triple(x: number) {
      return 3 * x;
    }, 2) as AsyncResult<number>;
    assert.equal(await tripled.get(), 6);
    const lbEngine = ((await rc.dbQuery({ msg_id: tripled.msgIds[0] })) as TaskRecord[])[0].engine_id;
    const id = (r: AsyncResult<unknown>) => shortId(r.msgIds[0]);

    // Everything, in the order it was sent: msg_id, engine, method, label, status, submitted, duration, code, error.
    const all = await tasksCli(tc);
    assert.equal(all.status, 0, all.stderr);
    const table = rows(all.stdout);
    assert.deepEqual(
      table.map((r) => r.slice(0, 5)),
      [
        [id(both), '0', 'execute', '-', 'ok'],
        [id(both), '1', 'execute', '-', 'ok'],
        [id(bad), '1', 'execute', '-', 'error'],
        [id(one), '0', 'apply', '-', 'ok'],
        [id(tripled), String(lbEngine), 'apply', 'x', 'ok'],
      ],
    );
    for (const r of table) {
      assert.match(r[5], /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}$/, `submitted time in ${r.join(' | ')}`);
      assert.match(r[6], /^\d+ ms$|^\d+\.\d\d s$/, `duration in ${r.join(' | ')}`);
    }
    assert.equal(table[0][7], '1 + 1');
    assert.equal(table[2][7], 'throw new RangeError("too far")');
    assert.equal(table[2][8], 'RangeError: too far');
    // Its source as the engine got it (the test runner's compiler may have compacted it), on one line.
    assert.match(table[4][7], /^function triple\(x\) ?\{ ?return 3 ?\* ?x;? ?\}$/);
    assert.equal(table[4].length, 8, 'no error cell for a task that succeeded');

    const errors = await tasksCli(tc, '--status', 'error');
    assert.equal(errors.status, 0, errors.stderr);
    assert.deepEqual(rows(errors.stdout).map((r) => [r[0], r[1], r[4], r[8]]), [[id(bad), '1', 'error', 'RangeError: too far']]);

    const engine1 = await tasksCli(tc, '--engine', '1');
    assert.equal(engine1.status, 0, engine1.stderr);
    assert.deepEqual(
      rows(engine1.stdout).map((r) => [r[0], r[1]]),
      [[id(both), '1'], [id(bad), '1'], ...(lbEngine === 1 ? [[id(tripled), '1']] : [])],
    );

    const labelled = await tasksCli(tc, '--label', 'x');
    assert.equal(labelled.status, 0, labelled.stderr);
    assert.deepEqual(rows(labelled.stdout).map((r) => [r[0], r[2], r[3]]), [[id(tripled), 'apply', 'x']]);

    const last = await tasksCli(tc, '--last', '2');
    assert.equal(last.status, 0, last.stderr);
    assert.deepEqual(rows(last.stdout).map((r) => r[0]), [id(one), id(tripled)]);

    const nothing = await tasksCli(tc, '--status', 'aborted', '--method', 'push');
    assert.equal(nothing.status, 0, nothing.stderr);
    assert.equal(nothing.stdout, 'no task records match --status aborted --method push\n');

    // --json: the full records (output, traceback), one object per line, in the table's order.
    const json = await tasksCli(tc, '--json');
    assert.equal(json.status, 0, json.stderr);
    const lines = json.stdout.trimEnd().split('\n');
    const records = lines.map((l) => JSON.parse(l) as TaskRecord);
    assert.deepEqual(
      records.map((r) => [r.msg_id, r.engine_id]),
      [
        [both.msgIds[0], 0],
        [both.msgIds[0], 1],
        [bad.msgIds[0], 1],
        [one.msgIds[0], 0],
        [tripled.msgIds[0], lbEngine],
      ],
    );
    assert.equal(records[2].ename, 'RangeError');
    assert.ok(Array.isArray(records[2].traceback) && records[2].traceback.length > 0, 'the error record has its traceback');
    assert.equal(typeof records[0].stdout, 'string');
    assert.equal(records[4].label, 'x');
    assert.equal(records[4].balanced, true);
    const lastJson = await tasksCli(tc, '--json', '--last', '1', '--engine', String(lbEngine));
    assert.deepEqual(lastJson.stdout.trimEnd().split('\n').map((l) => (JSON.parse(l) as TaskRecord).msg_id), [tripled.msgIds[0]]);

    // A bad value: exit 2, the flag and value named, and the command's usage.
    const wrong = await tasksCli(tc, '--engine', 'first');
    assert.equal(wrong.status, 2);
    assert.match(wrong.stderr, /^multiengine tasks: --engine must be an engine id .*got "first"/);
    assert.match(wrong.stderr, /usage: multiengine tasks/);
    assert.equal(wrong.stdout, '');
  } finally {
    rc.close();
    await tc.stop();
  }
});

test('multiengine tasks lists requests sent on a direct connection, from their engine\'s report', async () => {
  const tc = await startTestCluster({ n: 1 });
  const rc = await Client.connect({ file: tc.cluster.connectionFile });
  try {
    // The first single-engine request opens the link; the two after it go on it.
    await (rc.view(0).execute('0') as AsyncResult<unknown>);
    await until(() => rc.directEngines.includes(0), 5000, 'the direct connection to engine 0');
    const ok = rc.view(0).execute('2 + 2') as AsyncResult<unknown>;
    await ok;
    const bad = rc.view(0).execute('null.x') as AsyncResult<unknown>;
    await assert.rejects(bad);
    let table: string[][] = [];
    await until(async () => {
      const r = await tasksCli(tc, '--last', '2');
      table = r.status === 0 && r.stdout.startsWith('msg_id') ? rows(r.stdout) : [];
      return table.length === 2 && table[1][0] === shortId(bad.msgIds[0]);
    }, 10_000, 'both direct requests in the table');
    assert.deepEqual(table.map((c) => [c[0], c[1], c[2], c[4], c[7]]), [
      [shortId(ok.msgIds[0]), '0', 'execute', 'ok', '2 + 2'],
      [shortId(bad.msgIds[0]), '0', 'execute', 'error', 'null.x'],
    ]);
    assert.match(table[1][8], /^TypeError: Cannot read properties of null/);
  } finally {
    await rc.close();
    await tc.stop();
  }
});

test('multiengine tasks on a cluster started with --db none says it keeps no records, and why', async () => {
  const tc = await startTestCluster({ n: 1, db: 'none' });
  try {
    const r = await tasksCli(tc);
    assert.equal(r.status, 1);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /^cluster "test" keeps no task records: its controller runs with --db none \(start it with --db sqlite, the default, or --db memory to keep them\)\n$/);
  } finally {
    await tc.stop();
  }
});
