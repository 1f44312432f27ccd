// How the controller counts an engine's direct work between its reports (protocol section 13):
// engine_activity says what runs and waits; a heartbeat may name a running request first.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EngineRecord } from '../../../core/controller/engineRecord.js';
import { WorkRouter, type WorkRouterDeps } from '../../../core/controller/workRouter.js';
import type { ClientRecord } from '../../../core/controller/clientSession.js';
import { createMessage } from '../../../core/protocol/messages.js';
import type { Connection } from '../../../core/transport/connection.js';

function setUp(): { router: WorkRouter; e: EngineRecord; refreshed: () => number } {
  const e = new EngineRecord(0, { uuid: 'u', kernel: 'node', language_version: '', host: '', pid: 1 }, {} as Connection, null, null, 0);
  let refreshes = 0;
  const nothing = (): void => undefined;
  const deps = { registry: { refresh: () => refreshes++ }, recorder: { sent: nothing, replied: nothing, directWork: nothing } } as unknown as WorkRouterDeps;
  return { router: new WorkRouter(deps), e, refreshed: () => refreshes };
}

test('a beat naming a request that left the queue counts it running, not also queued', () => {
  const { router, e, refreshed } = setUp();
  // The last report: two direct requests wait, none runs yet.
  e.directActivity = { direct_running: null, direct_queued: 2, direct_done: 0 };
  assert.equal(e.queueLength, 2);
  router.noteRunning(e, { msg_id: 'slow', msg_type: 'execute_request' });
  assert.equal(e.directActivity.direct_queued, 1, 'the one that started left the queue');
  assert.equal(e.directActivity.direct_running?.msg_id, 'slow');
  assert.equal(e.queueLength, 2, 'still two unanswered requests, one running and one waiting');
  assert.equal(e.info().current_task?.msg_id, 'slow');
  assert.equal(refreshed(), 1);

  // The same beat again changes nothing.
  router.noteRunning(e, { msg_id: 'slow', msg_type: 'execute_request' });
  assert.equal(e.directActivity.direct_queued, 1);
  assert.equal(refreshed(), 1);

  // A beat saying nothing runs clears what a beat set; the queue count waits for the next report.
  router.noteRunning(e, undefined);
  assert.equal(e.directActivity.direct_running, null);
  assert.equal(e.queueLength, 1);
});

test('a beat naming a request the last report did not count never makes the queue negative', () => {
  const { router, e } = setUp();
  router.noteRunning(e, { msg_id: 'quick', msg_type: 'apply_request' });
  assert.equal(e.directActivity.direct_queued, 0);
  assert.equal(e.queueLength, 1);
});

test('a beat that crossed the reply of a routed request does not count that request as direct work', () => {
  const { router, e } = setUp();
  (e as { main: unknown }).main = { sendParts: () => undefined };
  const client = { conn: { sendParts: () => undefined, writableLength: 0 } } as unknown as ClientRecord;
  const routed = (id: string) => {
    const msg = createMessage('execute_request', { code: '1' }, { session: 'c', msgId: id });
    router.dispatch(e, id, [], { client, header: msg.header, replyType: 'execute_reply' });
    return msg.header;
  };
  const reply = (parent: ReturnType<typeof routed>) =>
    router.onEngineMessage(e, createMessage('execute_reply', { status: 'ok', execution_count: 1 } as never, { session: 'e', parent }), []);

  // 'a' is answered; the beat the engine sent while it ran comes after its reply.
  reply(routed('a'));
  router.noteRunning(e, { msg_id: 'a', msg_type: 'execute_request' });
  assert.equal(e.directActivity.direct_running, null, 'an answered routed request is not direct work');
  assert.equal(e.queueLength, 0);

  // Two routed requests, the first running: queued 1, running 1, whatever beats say.
  const slow = routed('slow');
  routed('behind');
  router.noteRunning(e, { msg_id: 'slow', msg_type: 'execute_request' });
  assert.equal(e.queueLength, 2);
  assert.equal(e.info().current_task?.msg_id, 'slow');
  reply(slow);
  router.noteRunning(e, { msg_id: 'slow', msg_type: 'execute_request' });
  assert.equal(e.queueLength, 1, 'only "behind" is left');
  assert.equal(e.info().current_task?.msg_id, 'behind');
});

test('a beat naming a routed request ends a direct one that only a beat had named', () => {
  const { router, e } = setUp();
  (e as { main: unknown }).main = { sendParts: () => undefined };
  router.noteRunning(e, { msg_id: 'direct', msg_type: 'execute_request' });
  assert.equal(e.queueLength, 1);
  const client = { conn: { sendParts: () => undefined, writableLength: 0 } } as unknown as ClientRecord;
  const msg = createMessage('execute_request', { code: '1' }, { session: 'c', msgId: 'routed' });
  router.dispatch(e, 'routed', [], { client, header: msg.header, replyType: 'execute_reply' });
  router.noteRunning(e, { msg_id: 'routed', msg_type: 'execute_request' });
  assert.equal(e.directActivity.direct_running, null);
  assert.equal(e.queueLength, 1, 'the routed request alone');
});
