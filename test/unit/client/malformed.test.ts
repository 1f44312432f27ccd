/**
 * Malformed messages to a real Client from a scripted controller, over real sockets: a bad
 * reply fails only the request it answers, with an error naming the field; a bad event or
 * stream is dropped and counted; the client keeps working.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { Client, ConnectionError, ControllerError, RemoteError, type ExecuteResult } from '../../../core/client/index.js';
import { createMessage, type ContentMap, type EngineInfo, type Message } from '../../../core/protocol/messages.js';
import { Signer } from '../../../core/transport/codec.js';
import { Connection } from '../../../core/transport/connection.js';
import { scriptedSession, startScriptedController } from './scriptedController.js';

/** Sends `content` as an engine_event to every client, whatever it is. */
function pushEvent(clients: { send(m: Message): void }[], content: Record<string, unknown>): void {
  const msg = createMessage('engine_event', content as unknown as ContentMap['engine_event'], { session: 'controller-session' });
  for (const c of clients) c.send(msg);
}

async function until(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 500 && !cond(); i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(cond(), `timed out waiting until ${what}`);
}

async function rejection(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (e) {
    return e as Error;
  }
  assert.fail('expected a rejection');
}

describe('malformed work replies', () => {
  const s = scriptedSession(2);

  test("an apply_reply with status 'maybe' fails only that request, naming status; the other engine's request and later ones succeed", async () => {
    s.fc.engines.get(0)!.handler = () => ({ content: { status: 'maybe' } });
    try {
      const bad = s.rc.view(0).apply('() => 1');
      const good = s.rc.view(1).apply('() => 2');
      const e = await rejection(bad);
      assert.ok(e instanceof RemoteError, String(e));
      assert.equal(e.ename, 'ProtocolError');
      assert.equal(e.engineId, 0);
      assert.match(e.evalue, /^malformed reply from engine 0: status must be 'ok', 'error' or 'aborted', got "maybe"$/);
      assert.equal(await good, 2);
    } finally {
      delete s.fc.engines.get(0)!.handler;
    }
    assert.equal(await s.rc.view(0).apply('() => 3'), 3);
    assert.equal(s.rc.outstandingResults.length, 0);
  });

  test('in a request to two engines, the malformed reply fails its engine only', async () => {
    await s.rc.view().push({ m: 7 });
    s.fc.engines.get(1)!.handler = () => ({ content: { status: 'ok', values: 5 } });
    try {
      const ar = s.rc.view([0, 1]).pull('m', { block: false });
      await assert.rejects(ar);
      const [zero, one] = ar.outcomes;
      assert.deepEqual(zero, { engineId: 0, status: 'ok', value: 7 });
      assert.equal(one.status, 'error');
      const e = one.error as RemoteError;
      assert.equal(e.ename, 'ProtocolError');
      assert.match(e.evalue, /values must be an array, got 5/);
    } finally {
      delete s.fc.engines.get(1)!.handler;
    }
    assert.deepEqual(await s.rc.view([0, 1]).pull('m'), [7, 7]);
  });

  test('an error reply whose evalue is not a string fails with ProtocolError naming evalue', async () => {
    s.fc.engines.get(0)!.handler = () => ({ content: { status: 'error', ename: 'ValueError', evalue: { x: 1 }, traceback: [] } });
    try {
      const e = await rejection(s.rc.view(0).execute('1'));
      assert.ok(e instanceof RemoteError);
      assert.equal(e.ename, 'ProtocolError');
      assert.match(e.evalue, /evalue must be a string/);
    } finally {
      delete s.fc.engines.get(0)!.handler;
    }
  });

  test('a stream whose text is not a string is dropped and counted; the request still finishes with the good output', async () => {
    const before = s.rc.droppedMessages;
    s.fc.engines.get(0)!.handler = () => ({
      content: { status: 'ok', execution_count: 1 },
      streams: [
        { name: 'stdout', text: 5 as unknown as string },
        { name: 'stdout', text: 'fine' },
      ],
    });
    try {
      const out = (await s.rc.view(0).execute('x')) as ExecuteResult;
      assert.equal(out.stdout, 'fine');
    } finally {
      delete s.fc.engines.get(0)!.handler;
    }
    assert.equal(s.rc.droppedMessages, before + 1);
  });
});

describe('malformed engine events', () => {
  const s = scriptedSession(2);

  test('an engine_event with no engine, or with a bad state, is dropped and counted; the next good one applies', async () => {
    const before = s.rc.droppedMessages;
    pushEvent(s.fc.clients, { event: 'registered' });
    pushEvent(s.fc.clients, { event: 'state', engine: { ...s.fc.engines.get(1)!.info, state: 'sleepy' } });
    await until(() => s.rc.droppedMessages === before + 2, 'both events were dropped');
    assert.deepEqual(s.rc.ids, [0, 1]);
    assert.equal(s.rc.engine(1)?.state, 'idle');
    const e = s.fc.addEngine();
    s.fc.publish('registered', e.info);
    await until(() => s.rc.ids.length === 3, 'the new engine is known');
    assert.equal(await s.rc.view(2).apply('() => 42'), 42);
  });
});

describe('malformed control replies', () => {
  const s = scriptedSession(1);

  test('a status_reply with engines: "x" fails status() with a ControllerError naming engines; the next status() works', async () => {
    s.fc.controlHandler = (msg) => (msg.header.msg_type === 'status_request' ? { status: 'ok', engines: 'x', dropped_messages: 0, clients: 1 } : undefined);
    try {
      const e = await rejection(s.rc.status());
      assert.ok(e instanceof ControllerError, String(e));
      assert.equal(e.ename, 'ProtocolError');
      assert.match(e.evalue, /^malformed status_reply from the controller: engines must be an array, got "x"$/);
    } finally {
      delete s.fc.controlHandler;
    }
    const st = await s.rc.status();
    assert.deepEqual(
      st.engines.map((x: EngineInfo) => x.id),
      [0],
    );
  });

  test('an abort_reply with an error status but no ename fails abort only, naming ename', async () => {
    s.fc.controlHandler = (msg) => (msg.header.msg_type === 'abort_request' ? { status: 'error', evalue: 'no' } : undefined);
    try {
      const e = await rejection(s.rc.view(0).abort());
      assert.ok(e instanceof ControllerError, String(e));
      assert.match(e.evalue, /ename must be a string, got nothing/);
    } finally {
      delete s.fc.controlHandler;
    }
    assert.equal(await s.rc.view(0).apply('() => 1'), 1);
  });
});

describe('a malformed connect_reply', () => {
  test('Client.connect rejects with a ConnectionError naming the field', async () => {
    const fc = await startScriptedController({ n: 1 });
    try {
      fc.controlHandler = (msg) => (msg.header.msg_type === 'connect_request' ? { status: 'ok', engines: [{ id: 'a', state: 'idle', kernel: 'node' }], controller_pid: 1, heartbeat_ms: 100 } : undefined);
      const e = await rejection(Client.connect({ file: fc.file, timeoutMs: 5000 }));
      assert.ok(e instanceof ConnectionError, String(e));
      assert.match(e.message, /malformed connect_reply from the controller: engines\[0\]\.id must be a whole number, got "a"/);
      delete fc.controlHandler;
      const rc = await Client.connect(fc.file);
      try {
        assert.deepEqual(rc.ids, [0]);
      } finally {
        rc.close();
      }
    } finally {
      await fc.close();
    }
  });
});

describe('a malformed engine_connect_reply on a direct connection', () => {
  /** Stands in for an engine's direct listener: answers the handshake with `content(uuid)`. */
  async function directListener(key: string, content: (uuid: string) => Record<string, unknown>): Promise<{ port: number; closed(): boolean; server: net.Server }> {
    let closed = false;
    const server = net.createServer((socket) => {
      const conn = new Connection(socket, new Signer(key));
      conn.start({
        onMessage: (m) => {
          if (m.header.msg_type !== 'engine_connect_request') return;
          const c = content((m.content as { engine_uuid: string }).engine_uuid) as unknown as ContentMap['engine_connect_reply'];
          conn.send(createMessage('engine_connect_reply', c, { session: 'engine-session', parent: m.header }));
        },
        onClose: () => (closed = true),
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    return { port: (server.address() as net.AddressInfo).port, closed: () => closed, server };
  }

  for (const [what, content, ready] of [
    ['a good one makes the link ready', (uuid: string) => ({ status: 'ok', id: 0, uuid }), true],
    ['id: "zero" leaves the link unused; requests go through the controller', (uuid: string) => ({ status: 'ok', id: 'zero', uuid }), false],
  ] as const) {
    test(what, async () => {
      const fc = await startScriptedController({ n: 1 });
      const listener = await directListener(fc.key, content);
      fc.engines.get(0)!.info.direct = { ip: '127.0.0.1', port: listener.port };
      const rc = await Client.connect({ file: fc.file, direct: true });
      try {
        assert.equal(await rc.view(0).apply('() => 1'), 1); // through the controller; the link opens meanwhile
        if (ready) await until(() => rc.directEngines.length === 1, 'the direct link is ready');
        else await until(listener.closed, 'the client hung up on the malformed reply');
        assert.deepEqual(rc.directEngines, ready ? [0] : []);
        const before = fc.received.length;
        if (!ready) {
          assert.equal(await rc.view(0).apply('() => 2'), 2);
          assert.equal(fc.received.length, before + 1, 'the request went through the controller');
        }
      } finally {
        rc.close();
        listener.server.close();
        await fc.close();
      }
    });
  }
});
