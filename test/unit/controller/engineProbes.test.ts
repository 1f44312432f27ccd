/** The controller's engine probes room: an engine that does not answer in time gets the client an error naming it. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createMessage, type Message } from '../../../core/protocol/messages.ts';
import { Signer } from '../../../core/transport/codec.ts';
import { EngineProbes } from '../../../core/controller/engineProbes.ts';
import { Replier } from '../../../core/controller/replies.ts';
import type { ClientRecord } from '../../../core/controller/clientSession.ts';
import type { EngineRecord } from '../../../core/controller/engineRecord.ts';
import { until } from '../../harness/poll.ts';

/** A connection that keeps what is sent on it. */
function fakeConn(): { isClosed: boolean; sent: Message[]; send(m: Message): void } {
  const sent: Message[] = [];
  return { isClosed: false, sent, send: (m) => void sent.push(m) };
}

function setup(timeoutMs: number) {
  const heart = fakeConn();
  const client = fakeConn();
  const engine = { id: 3, alive: true, heart } as unknown as EngineRecord;
  const dropped: string[] = [];
  const probes = new EngineProbes({ registry: { get: (id) => (id === 3 ? engine : undefined) }, replier: new Replier('s', new Signer('k')), timeoutMs, dropped: (w) => void dropped.push(w) });
  const rc = { n: 1, conn: client, subscribe: 'none' } as unknown as ClientRecord;
  return { heart, client, engine, probes, rc, dropped };
}

test('a stack request the engine never answers fails after the timeout, naming the engine; a late answer is dropped', async () => {
  const { heart, client, engine, probes, rc, dropped } = setup(50);
  const ask = createMessage('stack_request', { engine_id: 3 }, { session: 'c' });
  probes.request(rc, ask, 'stack_request');
  assert.equal(heart.sent.length, 1, 'sent to the heart');
  assert.equal(heart.sent[0].header.msg_type, 'stack_request');
  await until(() => client.sent.length === 1, 5000, 'the error reply');
  const r = client.sent[0];
  assert.equal(r.header.msg_type, 'stack_reply');
  assert.equal((r.parent_header as { msg_id: string }).msg_id, ask.header.msg_id);
  assert.deepEqual({ ...r.content, traceback: [] }, { status: 'error', ename: 'TimeoutError', evalue: 'engine 3 did not answer the stack request within 50 ms', traceback: [] });
  probes.onReply(engine, createMessage('stack_reply', { status: 'ok', engine_id: 3, frames: [] }, { session: 'e', parent: heart.sent[0].header }));
  assert.equal(client.sent.length, 1);
  assert.match(dropped[0], /nobody waits for/);
});

test('an answer in time goes to the client that asked, with engine_id; a malformed one becomes a ProtocolError', () => {
  const { heart, client, engine, probes, rc } = setup(5000);
  const ask = createMessage('stack_request', { engine_id: 3 }, { session: 'c' });
  probes.request(rc, ask, 'stack_request');
  probes.onReply(engine, createMessage('stack_reply', { status: 'ok', engine_id: 3, frames: [{ function: 'f', file: 'x', line: 2 }] }, { session: 'e', parent: heart.sent[0].header }));
  assert.equal(client.sent.length, 1);
  assert.deepEqual(client.sent[0].content, { status: 'ok', engine_id: 3, frames: [{ function: 'f', file: 'x', line: 2 }] });
  assert.equal(client.sent[0].metadata.engine_id, 3);

  probes.request(rc, createMessage('profile_request', { engine_id: 3, seconds: 1 }, { session: 'c' }), 'profile_request');
  probes.onReply(engine, createMessage('profile_reply', { status: 'ok', engine_id: 3 } as never, { session: 'e', parent: heart.sent[1].header }));
  assert.equal((client.sent[1].content as { status: string }).status, 'error');
  assert.match((client.sent[1].content as { evalue: string }).evalue, /^engine 3 sent a malformed profile_reply: samples must be a whole number, got nothing$/);
});
