/**
 * The scheduler at 1,000 engines (issue 18): placing a load-balanced task looks at a few
 * engines, not all of them, and still picks what leastload says (the least loaded, of equals
 * the lowest id, direct work counted). The Scheduler runs with real EngineRecords; each engine
 * counts the reads of its load and the registry counts the engines it hands out.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EngineRecord, type Pending } from '../../../core/controller/engineRecord.ts';
import { Replier } from '../../../core/controller/replies.ts';
import { Scheduler } from '../../../core/controller/scheduler.ts';
import type { ClientRecord } from '../../../core/controller/clientSession.ts';
import { createMessage, newSession, type Message } from '../../../core/protocol/messages.ts';
import type { Connection } from '../../../core/transport/connection.ts';
import { Signer } from '../../../core/transport/codec.ts';

let visits = 0;

class CountedEngine extends EngineRecord {
  override get load(): number {
    visits++;
    return super.load;
  }
}

function cluster(n: number, hwm: number) {
  const engines = Array.from({ length: n }, (_, id) => new CountedEngine(id, { uuid: `u${id}`, kernel: 'node', language_version: 't', host: 'h', pid: 1 }, null as unknown as Connection, null, null, 0));
  const sentTo: number[] = [];
  const registry = {
    get: (id: number) => engines[id],
    *values() {
      for (const e of engines) {
        visits++;
        yield e;
      }
    },
  };
  const scheduler = new Scheduler({
    registry,
    replier: new Replier('test', new Signer('k')),
    results: { open: () => assert.fail('no result store here'), add: () => assert.fail('no result store here') },
    scheme: 'leastload',
    hwm,
    dispatch: (e, msgId, _parts, pending) => {
      e.outstanding.set(msgId, pending);
      sentTo.push(e.id);
    },
  });
  for (const e of engines) scheduler.engineJoined(e);
  const client = { n: 1, conn: { sendParts: () => assert.fail('no task should fail') } as unknown as Connection } as ClientRecord;
  const session = newSession();
  /** A task as the TypeScript client sends one: apply, tagged with its kernel. */
  const submit = (): Message => {
    const msg = createMessage('apply_request', { fn: '(x) => x', args: [1] } as never, { session, metadata: { balanced: { kernel: 'node' } } });
    scheduler.submit(client, msg, [], 'apply_reply');
    return msg;
  };
  /** What the work router does with an engine's answer: settle, forget the request, pump. */
  const answer = (e: EngineRecord, msgId: string) => {
    const p = e.outstanding.get(msgId) as Pending;
    assert.equal(scheduler.settle(e, p, { status: 'ok' }), true);
    e.outstanding.delete(msgId);
    scheduler.pump();
  };
  return { engines, scheduler, sentTo, submit, answer };
}

test('1,000 engines: each task of a burst looks at a few engines, not all, and goes to the least loaded, lowest id first', () => {
  const n = 1000;
  const hwm = 4;
  const { engines, sentTo, submit } = cluster(n, hwm);
  visits = 0;
  const tasks = hwm * n + 10;
  for (let i = 0; i < tasks; i++) submit();
  // A scan of the engines per task would be ≥ 1,000 visits each; a heap is about log2(1,000) ≈ 10.
  assert.ok(visits / tasks < 50, `${(visits / tasks).toFixed(1)} engine visits per task`);
  // Round by round: engines 0…999 at load 0, then again at load 1, …; the last 10 wait (every engine is full).
  assert.equal(sentTo.length, hwm * n);
  for (let i = 0; i < sentTo.length; i++) assert.equal(sentTo[i], i % n, `task ${i}`);
  for (const e of engines) assert.equal(e.balanced, hwm);
});

test('answers free room where they happen: the waiting task goes to the engine that answered', () => {
  const { engines, sentTo, submit, answer } = cluster(1000, 1);
  const msgs = Array.from({ length: 1002 }, () => submit());
  assert.equal(sentTo.length, 1000);
  answer(engines[700], msgs[700].header.msg_id);
  answer(engines[3], msgs[3].header.msg_id);
  assert.deepEqual(sentTo.slice(1000), [700, 3]);
});

test('direct work counts in the load: of two engines with room, the one without direct requests gets the task', () => {
  const { engines, sentTo, submit } = cluster(8, 0);
  for (let i = 0; i < 8; i++) submit(); // one task each, engines 0…7
  // A direct request on engine 0, which the scheduler did not send: it is busier than the rest.
  engines[0].outstanding.set('direct-1', { client: null as unknown as ClientRecord, header: null as never, replyType: 'execute_reply' });
  submit();
  assert.equal(sentTo.at(-1), 1);
  submit();
  assert.equal(sentTo.at(-1), 2);
});
