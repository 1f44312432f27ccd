// The controller process, driven by fake engines and fake clients over real sockets.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { createMessage, type ContentMap, type EngineInfo, type Header } from '../../../core/protocol/messages.js';
import { encodeMessage, Signer } from '../../../core/transport/codec.js';
import { connectTcp } from '../../../core/transport/connection.js';
import { content, FakeEngine, fakeClient, isStateEvent, Peer, sleep, startController, status, until, type RunningController } from './helpers.js';

type Err = { status: 'error'; ename: string; evalue: string; traceback: string[] };

function engineEvents(client: Peer, id: number): { event: string; state: string }[] {
  return client.received
    .filter((m) => m.header.msg_type === 'engine_event')
    .map((m) => content<ContentMap['engine_event']>(m))
    .filter((c) => c.engine.id === id)
    .map((c) => ({ event: c.event, state: c.engine.state }));
}

async function withController(fn: (ctl: RunningController) => Promise<void>, extra: string[] = []): Promise<void> {
  const ctl = await startController(extra);
  try {
    await fn(ctl);
  } finally {
    await ctl.stop();
  }
}

test('prints one ready line and writes both connection files with mode 0600', async () => {
  await withController(async (ctl) => {
    assert.equal(ctl.ready.event, 'ready');
    assert.equal(ctl.ready.pid, ctl.proc.pid);
    assert.ok(ctl.ready.port > 0);
    for (const f of [ctl.ready.client_file, ctl.ready.engine_file]) {
      assert.ok(f.startsWith(ctl.dir), f);
      assert.equal(fs.statSync(f).mode & 0o777, 0o600, f);
    }
    assert.match(ctl.ready.client_file, /profile_t\/security\/multiengine-client\.json$/);
    assert.match(ctl.ready.engine_file, /profile_t\/security\/multiengine-engine\.json$/);
    const a = JSON.parse(fs.readFileSync(ctl.ready.client_file, 'utf8'));
    const b = JSON.parse(fs.readFileSync(ctl.ready.engine_file, 'utf8'));
    assert.deepEqual(a, b);
    assert.equal(a.port, ctl.ready.port);
    assert.equal(a.controller_pid, ctl.ready.pid);
    assert.equal(a.heartbeat_ms, 100);
    assert.match(a.key, /^[0-9a-f]{64}$/);
    await sleep(100); // a pause in which nothing more may appear on stdout
    assert.equal(ctl.stdoutLines.length, 1, 'nothing else on stdout');
  });
});

test('engines get ids 0, 1, 2 in registration order; registration subscribers hear of them', async () => {
  await withController(async (ctl) => {
    const watcher = await fakeClient(ctl, 'registration');
    const e0 = await FakeEngine.start(ctl);
    const e1 = await FakeEngine.start(ctl);
    const e2 = await FakeEngine.start(ctl);
    assert.deepEqual([e0.id, e1.id, e2.id], [0, 1, 2]);
    const late = await fakeClient(ctl);
    const reply = late.received.find((m) => m.header.msg_type === 'connect_reply')!;
    const c = content<ContentMap['connect_reply'] & { status: 'ok' }>(reply);
    assert.deepEqual(
      c.engines.map((e) => [e.id, e.state, e.uuid]),
      [
        [0, 'idle', e0.uuid],
        [1, 'idle', e1.uuid],
        [2, 'idle', e2.uuid],
      ],
    );
    assert.equal(c.controller_pid, ctl.ready.pid);
    assert.equal(c.heartbeat_ms, 100);
    await watcher.waitFor((m) => m.header.msg_type === 'engine_event' && content<ContentMap['engine_event']>(m).engine.id === 2);
    assert.deepEqual(engineEvents(watcher, 0), [{ event: 'registered', state: 'idle' }]);
    // Work makes engines busy and idle; 'registration' subscribers do not hear of that churn.
    const req = watcher.send('keys_request', {}, { metadata: { targets: [0] } });
    await watcher.replyTo(req);
    await sleep(50); // a pause in which no busy/idle event may arrive
    assert.deepEqual(engineEvents(watcher, 0), [{ event: 'registered', state: 'idle' }]);
    for (const e of [e0, e1, e2]) e.close();
  });
});

test('a multi-target request goes unchanged to each target; replies and streams come back to its client', async () => {
  await withController(async (ctl) => {
    const engines = [await FakeEngine.start(ctl), await FakeEngine.start(ctl), await FakeEngine.start(ctl)];
    const client = await fakeClient(ctl, 'all');
    const buf = new Uint8Array(1 << 20).map((_, i) => i & 0xff);
    const req = client.send('apply_request', { fn: 'f', args: [{ $t: 'buf', i: 0 }] }, { metadata: { targets: [2, 0] }, buffers: [buf] });
    const sentParts = encodeMessage(req, new Signer(ctl.info.key));
    const replies = await Promise.all([0, 2].map((id) => client.replyTo(req, (m) => m.metadata.engine_id === id)));
    for (const r of replies) {
      assert.equal(content<{ status: string }>(r).status, 'ok');
      assert.equal(r.buffers[0].byteLength, buf.byteLength);
      assert.ok(Buffer.from(r.buffers[0]).equals(Buffer.from(buf)));
    }
    // Streams came before their replies, to this client.
    const streams = client.answers(req).filter((m) => m.header.msg_type === 'stream');
    assert.deepEqual(streams.map((m) => content<{ text: string }>(m).text).sort(), ['engine 0: apply_request\n', 'engine 2: apply_request\n']);
    // Engine 1 was not a target; 0 and 2 got the exact bytes the client signed.
    assert.equal(engines[1].requests.length, 0);
    for (const id of [0, 2]) {
      const got = engines[id].main.messages.find((r) => r.msg === engines[id].requests[0])!.parts;
      assert.equal(got.length, sentParts.length);
      for (let i = 0; i < 5; i++) assert.ok(Buffer.from(got[i]).equals(Buffer.from(sentParts[i])), `part ${i} unchanged`);
      assert.ok(Buffer.from(got[5]).equals(Buffer.from(buf)));
    }
    // 'all' subscribers see busy then idle.
    await client.waitFor((m) => isStateEvent(m, 'idle', 2));
    assert.deepEqual(engineEvents(client, 2), [
      { event: 'state', state: 'busy' },
      { event: 'state', state: 'idle' },
    ]);
    for (const e of engines) e.close();
  });
});

test('two clients never see each other\'s replies or streams', async () => {
  await withController(async (ctl) => {
    const e0 = await FakeEngine.start(ctl);
    const e1 = await FakeEngine.start(ctl);
    const a = await fakeClient(ctl, 'none', 'a');
    const b = await fakeClient(ctl, 'none', 'b');
    const reqsA = Array.from({ length: 50 }, (_, i) => a.send('execute_request', { code: `a${i}` }, { metadata: { targets: [0, 1] } }));
    const reqsB = Array.from({ length: 50 }, (_, i) => b.send('execute_request', { code: `b${i}` }, { metadata: { targets: [1, 0] } }));
    await Promise.all(reqsA.flatMap((r) => [0, 1].map((id) => a.replyTo(r, (m) => m.metadata.engine_id === id))));
    await Promise.all(reqsB.flatMap((r) => [0, 1].map((id) => b.replyTo(r, (m) => m.metadata.engine_id === id))));
    const idsA = new Set(reqsA.map((r) => r.header.msg_id));
    const idsB = new Set(reqsB.map((r) => r.header.msg_id));
    const answered = (p: Peer) => p.received.filter((m) => m.header.msg_type !== 'connect_reply').map((m) => (m.parent_header as Header).msg_id);
    assert.ok(answered(a).every((id) => idsA.has(id)));
    assert.ok(answered(b).every((id) => idsB.has(id)));
    assert.equal(answered(a).length, 200); // 50 × 2 engines × (stream + reply)
    assert.equal(answered(b).length, 200);
    // Each engine served its requests one by one in arrival order.
    assert.equal(e0.requests.length, 100);
    e0.close();
    e1.close();
  });
});

test('a message with a wrong signature is dropped and counted; the controller keeps serving', async () => {
  await withController(async (ctl) => {
    const e0 = await FakeEngine.start(ctl);
    const client = await fakeClient(ctl);
    const before = (await status(client)).dropped_messages;
    // A forged request on an established connection: dropped, connection stays open.
    const forged = createMessage('execute_request', { code: 'evil()' }, { session: 'x', metadata: { targets: [0] } });
    client.conn.sendParts(encodeMessage(forged, new Signer('wrong key')));
    // Tampered content under a once-valid signature: dropped too.
    const good = encodeMessage(createMessage('execute_request', { code: 'ok()' }, { session: 'x', metadata: { targets: [0] } }), new Signer(ctl.info.key));
    good[4] = Buffer.from(JSON.stringify({ code: 'tampered()' }));
    client.conn.sendParts(good);
    const st = await status(client);
    assert.equal(st.dropped_messages, before + 2);
    assert.equal(client.closed, false);
    assert.equal(e0.requests.length, 0, 'the engine never saw the forged requests');
    const req = client.send('execute_request', { code: '1' }, { metadata: { targets: [0] } });
    assert.equal(content<{ status: string }>(await client.replyTo(req)).status, 'ok');
    e0.close();
  });
});

test('a connection whose first message is bad is closed; garbage frames close the connection', async () => {
  await withController(async (ctl) => {
    const client = await fakeClient(ctl);
    const stranger = await Peer.connect({ ...ctl.info, key: 'not the key' }, 'stranger');
    stranger.send('connect_request', {});
    await stranger.waitClosed();
    assert.equal(stranger.received.length, 0);

    const junk = await connectTcp(ctl.info.ip, ctl.info.port);
    const closed = new Promise<void>((r) => junk.once('close', () => r()));
    junk.write(Buffer.from([0xff, 0xff, 0xff, 0xff, 0, 0, 0, 1, 1, 2, 3, 4]));
    await closed;

    // A valid but unexpected first message: an error reply, then closed.
    const rude = await Peer.connect(ctl.info, 'rude');
    const req = rude.send('execute_request', { code: '1' }, { metadata: { targets: [0] } });
    const r = await rude.replyTo(req);
    assert.equal(content<Err>(r).ename, 'ProtocolError');
    await rude.waitClosed();

    const st = await status(client);
    assert.equal(st.dropped_messages, 2);
    assert.equal(st.clients, 1);
  });
});

test('an engine that stops beating goes unresponsive, then dead; its request fails with EngineError, the other still answers', async () => {
  await withController(async (ctl) => {
    const e0 = await FakeEngine.start(ctl);
    const e1 = await FakeEngine.start(ctl);
    const client = await fakeClient(ctl, 'all');
    e0.autoReply = false;
    const req = client.send('execute_request', { code: 'while(1);' }, { metadata: { targets: [0] } });
    await client.waitFor((m) => isStateEvent(m, 'busy'));
    const t0 = Date.now();
    e0.stopBeating();
    await client.waitFor(
      (m) => isStateEvent(m, 'unresponsive', 0),
      3000,
    );
    const tUnresponsive = Date.now() - t0;
    const r = await client.replyTo(req, () => true, 3000);
    const tDead = Date.now() - t0;
    const c = content<Err>(r);
    assert.equal(c.status, 'error');
    assert.equal(c.ename, 'EngineError');
    assert.match(c.evalue, /^engine 0 is dead: no heartbeat for \d+ ms$/);
    assert.deepEqual(c.traceback, []);
    assert.equal(r.metadata.engine_id, 0);
    assert.ok(tUnresponsive >= 150 && tUnresponsive < 550, `unresponsive after ${tUnresponsive} ms`);
    assert.ok(tDead >= 450 && tDead < 1500, `dead after ${tDead} ms`);
    assert.deepEqual(engineEvents(client, 0).slice(-3), [
      { event: 'state', state: 'busy' },
      { event: 'state', state: 'unresponsive' },
      { event: 'state', state: 'dead' },
    ]);
    // The dead engine's connection is closed; the other engine is untouched.
    await e0.main.waitClosed();
    const ok = client.send('execute_request', { code: '1' }, { metadata: { targets: [1] } });
    assert.equal(content<{ status: string }>(await client.replyTo(ok)).status, 'ok');
    // Requests to the dead engine are answered by the controller.
    const late = client.send('execute_request', { code: '1' }, { metadata: { targets: [0, 1] } });
    const lateDead = content<Err>(await client.replyTo(late, (m) => m.metadata.engine_id === 0));
    assert.match(lateDead.evalue, /^engine 0 is dead: no heartbeat/);
    await client.replyTo(late, (m) => m.metadata.engine_id === 1);
    const st = await status(client);
    assert.deepEqual(
      st.engines.map((e) => [e.id, e.state]),
      [
        [0, 'dead'],
        [1, 'idle'],
      ],
    );
    assert.match(st.engines[0].reason ?? '', /no heartbeat/);
    e0.close();
    e1.close();
  });
});

test('an unresponsive engine that beats again recovers; registration subscribers see both transitions', async () => {
  await withController(
    async (ctl) => {
      const e0 = await FakeEngine.start(ctl);
      const client = await fakeClient(ctl, 'all');
      const reg = await fakeClient(ctl, 'registration', 'reg');
      e0.stopBeating();
      await client.waitFor((m) => isStateEvent(m, 'unresponsive'), 3000);
      await reg.waitFor((m) => isStateEvent(m, 'unresponsive'), 3000);
      e0.heart!.send('heartbeat', { uuid: e0.uuid, id: e0.id });
      await client.waitFor((m) => isStateEvent(m, 'idle'), 3000);
      await reg.waitFor((m) => isStateEvent(m, 'idle'), 3000);
      assert.deepEqual(engineEvents(reg, 0), [
        { event: 'state', state: 'unresponsive' },
        { event: 'state', state: 'idle' },
      ]);
      e0.close();
    },
    ['--dead-after-ms', '5000'],
  );
});

test('an engine whose main socket closes is dead at once and its requests fail', async () => {
  await withController(async (ctl) => {
    const e0 = await FakeEngine.start(ctl);
    const e1 = await FakeEngine.start(ctl);
    const client = await fakeClient(ctl, 'registration');
    e0.autoReply = false;
    const req = client.send('pull_request', { names: ['a'] }, { metadata: { targets: [0, 1] } });
    await client.replyTo(req, (m) => m.metadata.engine_id === 1);
    const t0 = Date.now();
    e0.main.close();
    const r = await client.replyTo(req, (m) => m.metadata.engine_id === 0, 1000);
    assert.ok(Date.now() - t0 < 200, 'at once');
    assert.equal(content<Err>(r).evalue, 'engine 0 is dead: main connection closed');
    await client.waitFor((m) => isStateEvent(m, 'dead'));
    const ev = client.received.find((m) => isStateEvent(m, 'dead'))!;
    assert.equal(content<ContentMap['engine_event']>(ev).engine.reason, 'main connection closed');
    e0.close();
    e1.close();
  });
});

test('requested_id takes a dead engine\'s id; a live one\'s id is not taken', async () => {
  await withController(async (ctl) => {
    const client = await fakeClient(ctl, 'registration');
    const e0 = await FakeEngine.start(ctl);
    const e1 = await FakeEngine.start(ctl);
    e1.close();
    await client.waitFor((m) => isStateEvent(m, 'dead'));
    const again = await FakeEngine.start(ctl, { requestedId: 1 });
    assert.equal(again.id, 1);
    const st = await status(client);
    assert.deepEqual(
      st.engines.map((e) => [e.id, e.state, e.uuid, e.restarts]),
      [
        [0, 'idle', e0.uuid, 0],
        [1, 'idle', again.uuid, 1],
      ],
    );
    // Asking for a live engine's id gets a fresh one; ids are never reused otherwise.
    const other = await FakeEngine.start(ctl, { requestedId: 0 });
    assert.equal(other.id, 2);
    // A free id above the counter is honoured, and the counter moves past it.
    const high = await FakeEngine.start(ctl, { requestedId: 7 });
    assert.equal(high.id, 7);
    const next = await FakeEngine.start(ctl);
    assert.equal(next.id, 8);
    for (const e of [e0, again, other, high, next]) e.close();
  });
});

test('bad targets, unknown ids and unknown msg_types get error replies naming the problem', async () => {
  await withController(async (ctl) => {
    const e0 = await FakeEngine.start(ctl);
    const client = await fakeClient(ctl);
    const cases: [unknown, RegExp][] = [
      [undefined, /metadata\.targets must be an array of engine ids \(integers\), got nothing/],
      ['0', /metadata\.targets must be an array of engine ids \(integers\), got "0"/],
      [[0, 'x'], /element 1 is "x"/],
      [[1.5], /element 0 is 1\.5/],
      [[-1], /element 0 is -1/],
      [[], /metadata\.targets is empty/],
      [[0, 0], /more than once/],
    ];
    for (const [targets, want] of cases) {
      const metadata = targets === undefined ? {} : { targets: targets as number[] };
      const req = client.send('execute_request', { code: '1' }, { metadata });
      const c = content<Err>(await client.replyTo(req));
      assert.equal(c.ename, 'ProtocolError', JSON.stringify(targets));
      assert.match(c.evalue, want);
    }
    const req = client.send('keys_request', {}, { metadata: { targets: [0, 9] } });
    const r9 = await client.replyTo(req, (m) => m.metadata.engine_id === 9);
    assert.deepEqual(content(r9), { status: 'error', ename: 'EngineError', evalue: 'no engine with id 9', traceback: [] });
    assert.equal(r9.header.msg_type, 'keys_reply');
    assert.equal(content<{ status: string }>(await client.replyTo(req, (m) => m.metadata.engine_id === 0)).status, 'ok');

    const bogus = client.send('bogus_request' as 'status_request', {});
    const rb = await client.waitFor((m) => (m.parent_header as Header).msg_id === bogus.header.msg_id);
    assert.equal(content<Err>(rb).ename, 'ProtocolError');
    assert.match(content<Err>(rb).evalue, /unknown msg_type "bogus_request"/);
    const intr = client.send('interrupt_request', {}, { metadata: { targets: 'all' as unknown as number[] } });
    assert.equal(content<Err>(await client.replyTo(intr)).ename, 'ProtocolError');
    const ab = client.send('abort_request', {}, { metadata: { targets: [4] } });
    assert.match(content<Err>(await client.replyTo(ab)).evalue, /no engine with id 4/);
    const stop = client.send('stop_engine_request', { id: 'x' as unknown as number });
    assert.match(content<Err>(await client.replyTo(stop)).evalue, /id must be an engine id/);
    const add = client.send('add_engines_request', { n: 0 });
    assert.match(content<Err>(await client.replyTo(add)).evalue, /n must be a whole number/);
    // Still serving.
    const st = await status(client);
    assert.equal(st.engines.length, 1);
    e0.close();
  });
});

test('interrupt goes to the heart, abort to the main connection, each answered by the controller', async () => {
  await withController(async (ctl) => {
    const e0 = await FakeEngine.start(ctl);
    const client = await fakeClient(ctl);
    const intr = client.send('interrupt_request', {}, { metadata: { targets: [0] } });
    assert.equal(content<{ status: string }>(await client.replyTo(intr)).status, 'ok');
    await e0.heart!.waitFor((m) => m.header.msg_type === 'interrupt_request');
    const ab = client.send('abort_request', { msg_ids: ['m1'] }, { metadata: { targets: [0] } });
    assert.equal(content<{ status: string }>(await client.replyTo(ab)).status, 'ok');
    const got = await e0.main.waitFor((m) => m.header.msg_type === 'abort_request');
    assert.deepEqual(got.content, { msg_ids: ['m1'] });
    e0.close();
  });
});

test('an engine whose heart has not connected yet gets the interrupt on its main connection', async () => {
  await withController(async (ctl) => {
    const e0 = await FakeEngine.start(ctl, { heart: false, autoReply: false });
    const client = await fakeClient(ctl);
    const intr = client.send('interrupt_request', { msg_ids: ['m7'] }, { metadata: { targets: [0] } });
    assert.equal(content<{ status: string }>(await client.replyTo(intr)).status, 'ok');
    const got = await e0.main.waitFor((m) => m.header.msg_type === 'interrupt_request');
    assert.deepEqual(got.content, { msg_ids: ['m7'] });
    e0.close();
  });
});

test('a bad registration is refused with a reason and the connection closed', async () => {
  await withController(async (ctl) => {
    const p = await Peer.connect(ctl.info);
    const req = p.send('registration_request', { uuid: '', kernel: 'cobol' } as unknown as ContentMap['registration_request']);
    const r = await p.replyTo(req);
    assert.equal(content<Err>(r).ename, 'RegistrationError');
    assert.match(content<Err>(r).evalue, /uuid/);
    await p.waitClosed();
    const hb = await Peer.connect(ctl.info);
    hb.send('heartbeat', { uuid: 'nobody', id: 0 });
    await hb.waitClosed();
  });
});

test('stop_engine sends shutdown_request and unlists the engine; remote engines cannot be restarted', async () => {
  await withController(async (ctl) => {
    const e0 = await FakeEngine.start(ctl);
    const e1 = await FakeEngine.start(ctl);
    const client = await fakeClient(ctl, 'registration');
    const restart = client.send('restart_engine_request', { id: 1 });
    assert.match(content<Err>(await client.replyTo(restart)).evalue, /not started by this controller/);
    const stop = client.send('stop_engine_request', { id: 1 });
    assert.equal(content<{ status: string }>(await client.replyTo(stop)).status, 'ok');
    await e1.main.waitFor((m) => m.header.msg_type === 'shutdown_request');
    assert.deepEqual(engineEvents(client, 1).slice(-2), [
      { event: 'state', state: 'dead' },
      { event: 'unregistered', state: 'dead' },
    ]);
    const st = await status(client);
    assert.deepEqual(
      st.engines.map((e: EngineInfo) => e.id),
      [0],
    );
    const again = client.send('stop_engine_request', { id: 1 });
    assert.match(content<Err>(await client.replyTo(again)).evalue, /no engine with id 1/);
    // The id is not handed out again.
    const e2 = await FakeEngine.start(ctl);
    assert.equal(e2.id, 2);
    for (const e of [e0, e1, e2]) e.close();
  });
});

test('add_engines with a python interpreter that does not exist fails naming it', async () => {
  await withController(async (ctl) => {
    const client = await fakeClient(ctl);
    const req = client.send('add_engines_request', { n: 2, engine: 'python', python: '/nonexistent/python9' });
    const c = content<Err>(await client.replyTo(req));
    assert.equal(c.status, 'error');
    assert.match(c.evalue, /python interpreter "\/nonexistent\/python9" not found/);
    const st = await status(client);
    assert.equal(st.engines.length, 0);
    // No id was used up.
    const e = await FakeEngine.start(ctl);
    assert.equal(e.id, 0);
    e.close();
  });
});

test('an engine of any language may register; add_engines starts only the languages Multiengine describes, naming them', async () => {
  await withController(async (ctl) => {
    const client = await fakeClient(ctl, 'registration');
    const julia = await FakeEngine.start(ctl, { kernel: 'julia' });
    const st = await status(client);
    assert.deepEqual(st.engines.map((e) => [e.id, e.kernel]), [[julia.id, 'julia']]);
    const req = client.send('add_engines_request', { n: 1, engine: 'julia' });
    const c = content<Err>(await client.replyTo(req));
    assert.equal(c.ename, 'ValueError');
    assert.equal(c.evalue, 'engine must be one of node, python; got "julia"');
    julia.close();
  });
});

test('controller_shutdown_request replies, shuts engines down, removes the files and exits 0', async () => {
  const ctl = await startController();
  try {
    const e0 = await FakeEngine.start(ctl);
    const client = await fakeClient(ctl);
    const busy = client.send('execute_request', { code: 'x' }, { metadata: { targets: [0] } });
    e0.autoReply = false;
    await e0.main.waitFor((m) => m.header.msg_id === busy.header.msg_id);
    const req = client.send('controller_shutdown_request', {});
    assert.equal(content<{ status: string }>(await client.replyTo(req)).status, 'ok');
    await e0.main.waitFor((m) => m.header.msg_type === 'shutdown_request');
    const outcome = await ctl.exited;
    assert.deepEqual(outcome, { code: 0, signal: null });
    assert.equal(fs.existsSync(ctl.ready.client_file), false);
    assert.equal(fs.existsSync(ctl.ready.engine_file), false);
    // The outstanding request was answered before the controller left.
    assert.equal(content<Err>(client.answers(busy).find((m) => m.header.msg_type === 'execute_reply')!).ename, 'EngineError');
    e0.close();
    client.close();
  } finally {
    await ctl.stop();
  }
});

test('SIGTERM shuts down the same way', async () => {
  const ctl = await startController();
  try {
    const e0 = await FakeEngine.start(ctl);
    ctl.proc.kill('SIGTERM');
    await e0.main.waitFor((m) => m.header.msg_type === 'shutdown_request');
    assert.deepEqual(await ctl.exited, { code: 0, signal: null });
    assert.equal(fs.existsSync(ctl.ready.client_file), false);
    assert.equal(fs.existsSync(ctl.ready.engine_file), false);
    e0.close();
  } finally {
    await ctl.stop();
  }
});

test('a client that disconnects with requests in flight does not disturb anything', async () => {
  await withController(async (ctl) => {
    const e0 = await FakeEngine.start(ctl);
    e0.autoReply = false;
    const gone = await fakeClient(ctl);
    gone.send('execute_request', { code: 'slow' }, { metadata: { targets: [0] } });
    await e0.main.waitFor((m) => m.header.msg_type === 'execute_request');
    gone.close();
    const client = await fakeClient(ctl);
    await until(async () => (await status(client)).clients === 1, 5000, 'the controller to notice the first client left');
    e0.answer(e0.requests[0]);
    let st = await status(client);
    await until(async () => (st = await status(client)).engines[0].queue === 0, 5000, 'the answer to a departed client to be processed');
    assert.deepEqual(
      st.engines.map((e) => [e.id, e.state, e.queue]),
      [[0, 'idle', 0]],
    );
    assert.equal(st.clients, 1);
    e0.close();
  });
});


test('--exit-with-parent: the controller shuts down when its stdin closes', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'me-ctl-'));
  const proc = spawn(process.execPath, ['--import', 'tsx', 'core/controller/main.ts', '--dir', dir, '--profile', 'p', '--exit-with-parent'], { stdio: ['pipe', 'pipe', 'ignore'] });
  try {
    const line = await new Promise<string>((r) => readline.createInterface({ input: proc.stdout! }).once('line', r));
    const ready = JSON.parse(line) as { client_file: string };
    assert.ok(fs.existsSync(ready.client_file));
    const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
    proc.stdin!.end();
    assert.equal(await exited, 0);
    assert.equal(fs.existsSync(ready.client_file), false);
  } finally {
    if (proc.exitCode === null) proc.kill('SIGKILL');
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('signed junk of every msg_type from clients and engines is answered or ignored, never fatal', async () => {
  await withController(async (ctl) => {
    const e0 = await FakeEngine.start(ctl);
    const client = await fakeClient(ctl);
    const types = [
      'execute_request', 'apply_request', 'push_request', 'pull_request', 'keys_request', 'clear_request', 'stream', 'connect_request',
      'status_request', 'add_engines_request', 'stop_engine_request', 'restart_engine_request', 'interrupt_request', 'abort_request',
      'registration_request', 'heartbeat', 'engine_event', 'execute_reply', 'x', '', '__proto__', 'constructor',
    ];
    const values: unknown[] = [null, 0, -1, 1.5, 99, 'x', '', [], [0], [0, 0], ['0'], {}, { a: 1 }, true, 2 ** 60];
    let seed = 42;
    const rnd = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) % n);
    const pick = <T>(xs: T[]): T => xs[rnd(xs.length)];
    const signer = new Signer(ctl.info.key);
    for (let i = 0; i < 600; i++) {
      const type = pick(types);
      const content: Record<string, unknown> = {};
      for (const k of ['n', 'id', 'engine', 'python', 'msg_ids', 'subscribe', 'uuid', 'kernel', 'pid', 'requested_id']) if (rnd(3) === 0) content[k] = pick(values);
      const metadata: Record<string, unknown> = rnd(2) ? { targets: pick(values) } : {};
      const msg = createMessage(type as 'status_request', content as never, { session: 'fuzz', metadata: metadata as never });
      if (rnd(4) === 0) (msg as { parent_header: unknown }).parent_header = { msg_id: pick(values) };
      // Never shut the controller down, and keep add_engines from launching anything real.
      if (type === 'add_engines_request') content.n = pick([0, -1, 'x', 1.5, null]);
      if (type === 'stop_engine_request') content.id = pick([99, 'x', null, -1]);
      const from = rnd(2) ? client : e0.main;
      from.conn.sendParts(encodeMessage(msg, signer));
    }
    const st = await status(client);
    assert.equal(st.engines.length, 1);
    assert.equal(client.closed, false);
    assert.doesNotMatch(ctl.stderr(), /failed:|uncaught|unhandled/);
    e0.close();
  });
});
