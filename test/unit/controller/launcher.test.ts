// The controller's pieces that need no controller process: flags, the launcher, the heart monitor.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { EngineRecord } from '../../../core/controller/engineRecord.js';
import { HeartMonitor } from '../../../core/controller/heartMonitor.js';
import { earlyExitMessage, engineCommand, launchSpec, LocalProcess, type ProcessEnd } from '../../../core/controller/localLauncher.js';
import { findExecutable, LaunchError } from '../../../core/kernels/launch.js';

const resolvePython = (requested: string | undefined, flag: string | undefined) => launchSpec('python', requested, flag).interpreter;
import { parseArgs, UsageError } from '../../../core/controller/options.js';
import type { Connection } from '../../../core/transport/connection.js';

test('flags: defaults, both spellings, validation, unknown flags reported', () => {
  const d = parseArgs([]);
  assert.equal(d.options.ip, '127.0.0.1');
  assert.equal(d.options.port, 0);
  assert.equal(d.options.profile, 'default');
  assert.equal(d.options.heartbeatMs, 1000);
  assert.equal(d.options.deadAfterMs, 5000);
  assert.equal(d.options.maxMessageBytes, 1024 ** 3);
  assert.equal(d.options.exitWithParent, false);
  const o = parseArgs(['--ip', '0.0.0.0', '--port=5555', '--profile', 'p1', '--dir', '/tmp/x', '--heartbeat-ms', '100', '--dead-after-ms=600', '--python', 'py', '--exit-with-parent', '--future-flag']);
  assert.deepEqual(o.options, {
    ip: '0.0.0.0',
    port: 5555,
    profile: 'p1',
    dir: '/tmp/x',
    heartbeatMs: 100,
    deadAfterMs: 600,
    maxMessageBytes: 1024 ** 3,
    python: 'py',
    exitWithParent: true,
    restart: 'never',
    maxRestarts: 5,
    restartWindowMs: 60_000,
    reuseKey: false,
    reconnectMs: 10_000,
    maxOutputBytes: 16 * 1024 * 1024,
    resultStoreBytes: 128 * 1024 * 1024,
    resultStoreEntries: 4096,
    scheme: 'leastload',
    hwm: 4,
    db: 'sqlite',
    dbMaxRows: 1_000_000,
    dbMaxBytes: 1024 ** 3,
  });
  assert.deepEqual(o.unknown, ['--future-flag']);
  const lb = parseArgs(['--scheme', 'twobin', '--hwm=0']).options;
  assert.equal(lb.scheme, 'twobin');
  assert.equal(lb.hwm, 0);
  assert.throws(() => parseArgs(['--hwm', '-1']), /--hwm must be a whole number from 0 to 1000000, got "-1"/);
  const db = parseArgs(['--db', 'memory', '--db-max-rows=500', '--db-max-bytes', '65536']).options;
  assert.deepEqual([db.db, db.dbMaxRows, db.dbMaxBytes], ['memory', 500, 65536]);
  assert.throws(() => parseArgs(['--db', 'mongodb']), /--db must be sqlite, memory or none, got "mongodb"/);
  assert.throws(() => parseArgs(['--db-max-rows', '0']), /--db-max-rows must be a whole number from 1 to/);
  const r = parseArgs(['--restart', 'always', '--max-restarts=2', '--restart-window-ms', '5000', '--reuse-key', '--reconnect-ms', '0', '--max-output-bytes', '4096']).options;
  assert.deepEqual([r.restart, r.maxRestarts, r.restartWindowMs, r.reuseKey, r.reconnectMs, r.maxOutputBytes], ['always', 2, 5000, true, 0, 4096]);
  assert.throws(() => parseArgs(['--restart', 'sometimes']), /--restart must be always or never/);
  assert.throws(() => parseArgs(['--port', 'x']), (e: unknown) => e instanceof UsageError && /--port must be a whole number/.test(e.message));
  assert.throws(() => parseArgs(['--heartbeat-ms']), /--heartbeat-ms needs a value/);
  assert.throws(() => parseArgs(['--heartbeat-ms', '1000', '--dead-after-ms', '500']), /must be larger than --heartbeat-ms/);
  assert.throws(() => parseArgs(['--profile', '../x']), /bad --profile/);
});

test('python is chosen by request, then --python, then MULTIENGINE_PYTHON, then python3', () => {
  const saved = process.env.MULTIENGINE_PYTHON;
  try {
    process.env.MULTIENGINE_PYTHON = 'envpy';
    assert.equal(resolvePython('req', 'flag'), 'req');
    assert.equal(resolvePython(undefined, 'flag'), 'flag');
    assert.equal(resolvePython(undefined, undefined), 'envpy');
    delete process.env.MULTIENGINE_PYTHON;
    assert.equal(resolvePython(undefined, undefined), 'python3');
  } finally {
    if (saved === undefined) delete process.env.MULTIENGINE_PYTHON;
    else process.env.MULTIENGINE_PYTHON = saved;
  }
});

test('findExecutable looks on PATH and at paths; a missing interpreter is a LaunchError naming it', () => {
  assert.equal(findExecutable(process.execPath), process.execPath);
  assert.equal(findExecutable('/nonexistent/python9'), null);
  assert.equal(findExecutable('surely-not-a-command-xyz'), null);
  assert.throws(
    () => engineCommand({ kind: 'python', interpreter: 'surely-not-a-python-xyz' }, '/tmp/engine.json', 0),
    (e: unknown) => e instanceof LaunchError && /python interpreter "surely-not-a-python-xyz" not found/.test(e.message),
  );
});

function run(script: string): { proc: LocalProcess; end: Promise<ProcessEnd> } {
  let done!: (e: ProcessEnd) => void;
  const end = new Promise<ProcessEnd>((r) => (done = r));
  const proc = new LocalProcess({ kind: 'node' }, 7, { command: process.execPath, args: ['-e', script] }, (_p, e) => done(e));
  return { proc, end };
}

test('a local process that dies early is explained by its exit code and last stderr lines', async () => {
  const { proc, end } = run("process.stdout.write('out line\\n'); console.error('first'); console.error('Error: boom'); process.exit(3)");
  assert.ok(proc.pid > 0);
  const e = await end;
  assert.deepEqual(e, { code: 3, signal: null });
  await proc.drained;
  assert.deepEqual(proc.stderrTail(), ['first', 'Error: boom']);
  assert.equal(proc.running, false);
  const msg = earlyExitMessage(proc, e);
  assert.match(msg, /^node engine 7 \(pid \d+\) exited with code 3 before registering; last stderr lines:\nfirst\nError: boom$/);
});

test('kill() signals by pid and the end says which signal', async () => {
  const { proc, end } = run('setInterval(() => {}, 1000)');
  await new Promise((r) => setTimeout(r, 50)); // a moment in which the process (which never exits by itself) stays up
  assert.equal(proc.running, true);
  proc.kill('SIGKILL');
  assert.deepEqual(await end, { code: null, signal: 'SIGKILL' });
  proc.kill('SIGKILL'); // no-op once ended
});

test('an interpreter that cannot be spawned ends with a LaunchError naming it', async () => {
  let done!: (e: ProcessEnd) => void;
  const end = new Promise<ProcessEnd>((r) => (done = r));
  const proc = new LocalProcess({ kind: 'python', interpreter: '/nonexistent/py' }, 0, { command: '/nonexistent/py', args: [] }, (_p, e) => done(e));
  const e = await end;
  assert.equal(proc.pid, 0);
  assert.ok('error' in e && e.error instanceof LaunchError);
  assert.match(earlyExitMessage(proc, e), /python interpreter "\/nonexistent\/py" not found \(ENOENT\)/);
});

test('the heart monitor: unresponsive after two missed periods, dead after the limit, skips a tick after a stall', () => {
  const e = new EngineRecord(0, { uuid: 'u', kernel: 'node', language_version: '', host: '', pid: 1 }, {} as Connection, null, null, 0);
  const seen: string[] = [];
  const m = new HeartMonitor({
    heartbeatMs: 100,
    deadAfterMs: 600,
    engines: () => [e],
    onUnresponsive: () => {
      seen.push('unresponsive');
      e.unresponsive = true;
    },
    onDead: () => {
      seen.push('dead');
      e.state = 'dead';
    },
  });
  const t0 = e.lastBeat;
  (m as unknown as { lastTick: number }).lastTick = t0;
  for (let t = t0 + 50; t <= t0 + 250; t += 50) m.tick(t);
  assert.deepEqual(seen, []);
  m.tick(t0 + 300);
  assert.deepEqual(seen, ['unresponsive']);
  // A long stall of our own loop: the first tick after it judges nobody.
  m.tick(t0 + 2000);
  assert.deepEqual(seen, ['unresponsive']);
  m.tick(t0 + 2050);
  assert.deepEqual(seen, ['unresponsive', 'dead']);
});

test('engineCommand builds the contract command lines', () => {
  const node = path.join(process.cwd(), 'engines/node/main.ts');
  if (fs.existsSync(node)) {
    const c = engineCommand({ kind: 'node' }, '/f.json', 3);
    assert.equal(c.command, process.execPath);
    assert.deepEqual(c.args.slice(-5), [node, '--file', '/f.json', '--id', '3']);
    assert.ok(!c.args.includes('tsx'), 'the tsx loader is resolved to a file URL');
  } else {
    assert.throws(() => engineCommand({ kind: 'node' }, '/f.json', 3), /the node engine is not installed/);
  }
  const py = findExecutable('python3');
  if (py && fs.existsSync(path.join(process.cwd(), 'engines/python/multiengine_engine.py'))) {
    const c = engineCommand({ kind: 'python', interpreter: 'python3' }, '/f.json', 2);
    assert.equal(c.command, 'python3');
    assert.deepEqual(c.args, [path.join(process.cwd(), 'engines/python/multiengine_engine.py'), '--file', '/f.json', '--id', '2']);
  }
});
