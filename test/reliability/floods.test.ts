/**
 * Floods: an engine printing without end, a client too slow to read, and messages over the
 * maximum message size. The controller's memory stays bounded, output is truncated with a
 * marker that says so, and oversized messages are refused with an error that names the sizes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { MessageTooLargeError, RemoteError, TimeoutError, type AsyncResult, type ExecuteResult } from 'multiengine';
import type { ConnectionInfo } from '../../core/connection/connectionFile.ts';
import { connectClient, eventually, rssKB, sleep, startTestCluster } from './faultKit.ts';

const MiB = 1024 * 1024;

test('an engine printing without end: output is truncated at max_output_bytes with a marker, the controller stays small, the engine stays up', async () => {
  const tc = await startTestCluster({ n: 2, maxOutputBytes: MiB });
  try {
    const pid = tc.cluster.controllerPid;
    // A finite flood of 5 MiB: exactly the limit arrives, then the marker.
    const finite = (await tc.rc.view(0).execute("for (let i = 0; i < 5 * 1024; i++) process.stdout.write('x'.repeat(1023) + '\\n'); 'done'", { block: true })) as ExecuteResult;
    assert.equal(finite.result, "'done'");
    assert.equal(finite.stdout.length, MiB);
    assert.match(finite.stderr, /\[output truncated: this request wrote more than 1048576 characters; the rest is dropped/);

    const rssBefore = rssKB(pid);
    // An endless one, stopped by a timeout.
    const endless = tc.rc.view(1).execute("while (true) console.log('y'.repeat(1000))", { timeoutMs: 3000 }) as AsyncResult<ExecuteResult>;
    await assert.rejects(endless, (e: unknown) => e instanceof TimeoutError && e.engineIds[0] === 1);
    const rssAfter = rssKB(pid);
    assert.ok(endless.stdout[0].length <= MiB, `kept ${endless.stdout[0].length} characters`);
    assert.match(endless.stderr[0], /output truncated/);
    assert.ok(rssAfter - rssBefore < 64 * 1024, `controller RSS went from ${rssBefore} kB to ${rssAfter} kB`);
    // The next request's output starts from zero again, and both engines are fine.
    const again = (await tc.rc.view(1).execute("console.log('small'); 1", { block: true })) as ExecuteResult;
    assert.equal(again.stdout, 'small\n');
    assert.deepEqual(await tc.rc.view().applySync(() => 'alive'), ['alive', 'alive']);
  } finally {
    await tc.stop();
  }
});

test('a python engine flooding output is truncated the same way', async () => {
  const tc = await startTestCluster({ n: 0, maxOutputBytes: MiB });
  try {
    const [id] = await tc.cluster.addEngines(1, { engine: 'python' });
    const r = (await tc.rc.view(id).execute("import sys\nfor i in range(5 * 1024):\n    sys.stdout.write('x' * 1023 + '\\n')\n'done'", { block: true })) as ExecuteResult;
    assert.equal(r.result, "'done'");
    assert.equal(r.stdout.length, MiB);
    assert.match(r.stderr, /output truncated: this request wrote more than 1048576 characters/);
    const endless = tc.rc.view(id).execute("while True: print('y' * 1000)", { timeoutMs: 3000 }) as AsyncResult<ExecuteResult>;
    await assert.rejects(endless, TimeoutError);
    assert.ok(endless.stdout[0].length <= MiB);
    assert.equal(((await tc.rc.view(id).execute('2 + 2', { block: true })) as ExecuteResult).result, '4');
  } finally {
    await tc.stop();
  }
});

test('a client too slow to read: back-pressure pauses the engine, so the controller does not buffer the flood; nothing is lost', async () => {
  const tc = await startTestCluster({ n: 1, maxOutputBytes: 1024 * MiB });
  try {
    const pid = tc.cluster.controllerPid;
    const info = JSON.parse(fs.readFileSync(tc.cluster.connectionFile, 'utf8')) as ConnectionInfo;
    const slow = await connectClient(info, 'none', 'slow client');
    const total = 256; // MiB of output
    const req = slow.send('execute_request', { code: `const s = 'z'.repeat(${MiB}); for (let i = 0; i < ${total}; i++) process.stdout.write(s); 'done'` }, { metadata: { targets: [0] } });
    slow.conn.socket.pause(); // stops reading: the kernel buffers fill, then the controller's
    const rssBefore = rssKB(pid);
    let peak = rssBefore;
    for (let i = 0; i < 20; i++) {
      await sleep(200); // samples the controller's memory over 4 s in which the client reads nothing
      peak = Math.max(peak, rssKB(pid));
    }
    assert.ok(peak - rssBefore < 128 * 1024, `controller RSS went from ${rssBefore} kB up to ${peak} kB while the client did not read`);
    // Another client is served meanwhile (the controller is not stuck).
    assert.equal((await tc.rc.status()).engines.length, 1);
    slow.conn.socket.resume();
    const reply = await slow.replyTo(req, () => true, 120_000);
    assert.equal((reply.content as { result?: string }).result, "'done'");
    const got = slow.received.filter((m) => m.header.msg_type === 'stream').reduce((n, m) => n + (m.content as { text: string }).text.length, 0);
    assert.equal(got, total * MiB, 'every byte of output arrived');
    slow.close();
  } finally {
    await tc.stop();
  }
});

test('messages over the maximum message size: refused before sending with the size and the limit; a reply too big becomes an error reply and the connection lives', async () => {
  const tc = await startTestCluster({ n: 2, maxMessageBytes: 4 * MiB });
  try {
    const [py] = await tc.cluster.addEngines(1, { engine: 'python' });
    await tc.rc.refreshEngines();
    assert.equal(tc.rc.maxMessageBytes, 4 * MiB);
    // Client side: nothing is sent.
    assert.throws(
      () => tc.rc.view(0).push({ big: new Float64Array(MiB) }),
      (e: unknown) =>
        e instanceof MessageTooLargeError &&
        e.size > 8 * MiB &&
        e.limit === 4 * MiB &&
        /push: the message is 8\.0 MiB \(\d+ bytes\), more than the maximum message size of 4\.0 MiB \(4194304 bytes\); nothing was sent/.test(e.message),
    );
    assert.throws(() => tc.rc.view([0, 1]).scatter('part', new Float64Array(1.2 * MiB)), MessageTooLargeError);
    assert.equal(tc.rc.outstandingResults.length, 0);
    await assert.rejects(tc.rc.view([0, 1]).pull('big', { block: true }), /NameError|not defined/);
    await assert.rejects(tc.rc.view([0, 1]).pull('part', { block: true }), /NameError|not defined/);

    // Engine side: a reply too big is an error reply, not a dead connection.
    await tc.rc.view(0).execute('globalThis.big = new Float64Array(1024 * 1024)', { block: true });
    await assert.rejects(
      tc.rc.view(0).pull('big', { block: true }),
      (e: unknown) => e instanceof RemoteError && e.ename === 'MessageTooLargeError' && /the reply is 8\.0 MiB .* more than the maximum message size of 4\.0 MiB/.test(e.evalue),
    );
    await tc.rc.view(py).execute('big = bytes(8 * 1024 * 1024)', { block: true });
    await assert.rejects(
      tc.rc.view(py).pull('big', { block: true }),
      (e: unknown) => e instanceof RemoteError && e.ename === 'MessageTooLargeError' && /more than the maximum message size of 4\.0 MiB/.test(e.evalue),
    );
    // Output bigger than a message goes out in pieces.
    const printed = (await tc.rc.view(0).execute("process.stdout.write('w'.repeat(6 * 1024 * 1024)); 1", { block: true })) as ExecuteResult;
    assert.equal(printed.stdout.length, 6 * MiB);
    // Everybody is still there, on the same connections.
    const engines = (await tc.rc.status()).engines;
    assert.ok(engines.every((e) => e.state === 'idle'), JSON.stringify(engines.map((e) => [e.id, e.state, e.reason])));
    assert.equal(await tc.rc.view(0).applySync(() => 'fine'), 'fine');
    assert.equal(((await tc.rc.view(py).execute('len(big)', { block: true })) as ExecuteResult).result, String(8 * MiB));
    assert.ok(await eventually(async () => (await tc.rc.status()).dropped_messages === 0, 1000));
  } finally {
    await tc.stop();
  }
});
