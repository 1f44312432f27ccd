/**
 * Malformed requests to a real node engine, over real sockets: each gets an error reply naming
 * the field (the ename core/protocol/validate gives it), and the engine keeps serving.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type ContentMap, type Message, type MsgType } from '../../../core/protocol/messages.js';
import { Connection, connectTcp } from '../../../core/transport/connection.js';
import { isReplyTo, Peer } from '../../harness/peer.js';
import { FakeController } from './fakeController.js';

/** Content the protocol does not allow, sent as if it did. */
const bad = <T extends MsgType>(content: Record<string, unknown>): ContentMap[T] => content as unknown as ContentMap[T];

function assertError(reply: Message, ename: string, mentions: RegExp): void {
  const c = reply.content as { status: string; ename?: string; evalue?: string };
  assert.equal(c.status, 'error', JSON.stringify(c));
  assert.equal(c.ename, ename, JSON.stringify(c));
  assert.match(c.evalue ?? '', mentions);
}

describe('node engine: malformed requests', () => {
  const fc = new FakeController(100, 2);

  before(async () => {
    await fc.listen();
    await fc.startEngine();
  });
  after(() => fc.close());

  async function stillServes(): Promise<void> {
    const r = await fc.request('apply_request', { fn: '(a, b) => a + b', args: [2, 3] });
    assert.deepEqual(r.content, { status: 'ok', result: 5 });
  }

  /** Waits until the engine's stderr matches `re`. */
  async function logged(re: RegExp): Promise<void> {
    for (let i = 0; i < 500 && !re.test(fc.stderr); i++) await new Promise((r) => setTimeout(r, 10));
    assert.match(fc.stderr, re);
  }

  /** A direct connection whose first message is an engine_connect_request with `content`: the engine's answer. */
  async function directHandshake(content: Record<string, unknown>): Promise<Message> {
    const { ip, port } = await fc.directAddress();
    const peer = new Peer(new Connection(await connectTcp(ip, port), fc.signer), 'direct', fc.session);
    try {
      const hello = peer.send('engine_connect_request', bad<'engine_connect_request'>(content));
      return (await peer.next((m) => isReplyTo(m, hello), 10_000, 'engine_connect_reply')).msg;
    } finally {
      peer.close();
    }
  }

  it('apply_request with args: 5 -> ProtocolError naming args; the engine keeps serving', async () => {
    const r = await fc.request('apply_request', bad<'apply_request'>({ fn: '(x) => x', args: 5 }));
    assertError(r, 'ProtocolError', /\bargs must be an array\b.*5/);
    assert.equal(r.metadata.engine_id, 2);
    await stillServes();
  });

  it('pull_request with names: "x" -> ProtocolError naming names', async () => {
    const r = await fc.request('pull_request', bad<'pull_request'>({ names: 'x' }));
    assertError(r, 'ProtocolError', /\bnames must be an array of names\b/);
    await stillServes();
  });

  it('execute_request without code, push_request with ns: [] and apply_request with require: [1] -> each names its field', async () => {
    assertError(await fc.request('execute_request', bad<'execute_request'>({})), 'ProtocolError', /\bcode must be a string, got nothing/);
    assertError(await fc.request('push_request', bad<'push_request'>({ ns: [] })), 'ProtocolError', /\bns must be an object\b/);
    assertError(await fc.request('apply_request', bad<'apply_request'>({ fn: '', args: [], require: [1] })), 'ProtocolError', /\brequire must be an array of module names\b/);
    await stillServes();
  });

  it('a malformed request between good ones fails alone, answered in order', async () => {
    const a = fc.send('execute_request', { code: 'globalThis.n = 1' });
    const b = fc.send('apply_request', bad<'apply_request'>({ fn: 7, args: [] }));
    const c = fc.send('execute_request', { code: 'n + 1' });
    const [ra, rb, rc] = await Promise.all([fc.reply(a), fc.reply(b), fc.reply(c)]);
    assert.equal((ra.msg.content as { status: string }).status, 'ok');
    assertError(rb.msg, 'ProtocolError', /\bfn must be a string, got 7/);
    assert.equal((rc.msg.content as { result?: string }).result, '2');
    assert.ok(ra.at <= rb.at && rb.at <= rc.at, 'replies in request order');
  });

  it('an abort_request with msg_ids: "x" is ignored (logged), and a good one still aborts', async () => {
    fc.send('abort_request', bad<'abort_request'>({ msg_ids: 'x' }));
    // The engine takes requests in order: after this reply the bad abort was read.
    await stillServes();
    await logged(/ignoring a malformed abort_request: msg_ids must be an array of msg_id strings/);
    const slow = fc.send('execute_request', { code: 'const t = Date.now() + 300; while (Date.now() < t);' });
    const queued = fc.send('execute_request', { code: '1' });
    fc.send('abort_request', { msg_ids: [queued.header.msg_id] });
    assert.equal(((await fc.reply(queued)).msg.content as { status: string }).status, 'aborted');
    assert.equal(((await fc.reply(slow)).msg.content as { status: string }).status, 'ok');
  });

  it('an interrupt_request on the heart with msg_ids: 5 interrupts nothing (logged); a good one still interrupts', async () => {
    const running = fc.send('execute_request', { code: "console.log('started'); await new Promise((r) => setTimeout(r, 400)); 'finished'" });
    await fc.main.next((m) => m.header.msg_type === 'stream' && m.parent_header.msg_id === running.header.msg_id, 10_000, 'the request to start');
    // The heart connects on its own after registration: on a loaded machine it may not have yet.
    await fc.heart.next((m) => m.header.msg_type === 'heartbeat', 10_000, "the engine's heart to connect");
    fc.sendHeart('interrupt_request', bad<'interrupt_request'>({ msg_ids: 5 }));
    await logged(/ignoring a malformed interrupt_request: msg_ids must be an array of msg_id strings, got 5/);
    const done = (await fc.reply(running)).msg.content as { status: string; result?: string };
    assert.deepEqual([done.status, done.result], ['ok', "'finished'"]);
    const again = fc.send('execute_request', { code: "console.log('started'); await new Promise(() => {})" });
    await fc.main.next((m) => m.header.msg_type === 'stream' && m.parent_header.msg_id === again.header.msg_id, 10_000, 'the request to start');
    fc.sendHeart('interrupt_request', {});
    assert.equal(((await fc.reply(again)).msg.content as { status: string }).status, 'error');
  });

  it('a direct engine_connect_request with engine_uuid: 5 -> ProtocolError naming engine_uuid; direct clients still connect', async () => {
    const reply = await directHandshake({ engine_uuid: 5 });
    assertError(reply, 'ProtocolError', /engine_connect_request: engine_uuid must be a string, got 5/);
    const peer = await fc.connectDirect();
    const r = await peer.replyTo(peer.send('apply_request', bad<'apply_request'>({ fn: '() => 1', args: {} })));
    assertError(r, 'ProtocolError', /\bargs must be an array\b/);
    const ok = await peer.replyTo(peer.send('apply_request', { fn: '() => 1', args: [] }));
    assert.equal((ok.content as { status: string }).status, 'ok');
  });
});

describe('node engine: a malformed registration_reply', () => {
  const fc = new FakeController(100, 0);
  after(() => fc.close());

  it('is not taken: the engine says which field and exits instead of running with it', async () => {
    await fc.listen();
    fc.limits = { max_message_bytes: 'lots' as unknown as number };
    await fc.startEngine();
    assert.equal(await fc.exitCode(), 1);
    assert.match(fc.stderr, /malformed registration_reply: max_message_bytes must be a whole number, got "lots"/);
  });
});
