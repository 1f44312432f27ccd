/**
 * An interrupt_request that reaches a node engine at any moment of a running request stops it:
 * while the request is being prepared, during its synchronous part, between that part and the
 * await, or during the await. A real engine process; each request comes on a direct connection,
 * so the engine's engine_activity (sent as the request starts, before its user code) says when
 * it runs, and the interrupt goes to the heart 0, 1, 5 or 20 ms after that. Every request must
 * end with InterruptError long before its 20 s sleep would, and the engine keeps its namespace.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { ContentMap, Message } from '../../../core/protocol/messages.js';
import { REPORT_INTERVAL_MS } from '../../../engines/node/activityReport.js';
import { FakeController, type DirectPeer } from './fakeController.js';

const DELAYS_MS = [0, 1, 5, 20];
const SLEEP = 'await new Promise((r) => setTimeout(r, 20_000))';
/** Requests that would run 20 s (or forever) unless interrupted, in the stages a race can hit. */
const REQUESTS: Array<{ what: string; type: 'execute_request' | 'apply_request'; content: ContentMap['execute_request'] | ContentMap['apply_request'] }> = [
  { what: 'top-level await', type: 'execute_request', content: { code: SLEEP } },
  { what: 'sync work, then await', type: 'execute_request', content: { code: `let n = 0; for (let i = 0; i < 3e5; i++) n += i; ${SLEEP}` } },
  { what: 'a busy loop', type: 'execute_request', content: { code: 'for (;;) {}' } },
  { what: 'an applied function returning a promise', type: 'apply_request', content: { fn: '() => new Promise((r) => setTimeout(r, 20_000))', args: [] } },
];
const ROUNDS = 12; // 48 interrupts

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('node engine: an interrupt at any moment of a running request', () => {
  const fc = new FakeController(50);
  let direct: DirectPeer;

  before(async () => {
    await fc.listen();
    await fc.startEngine();
    await fc.heart.next((m) => m.header.msg_type === 'heartbeat'); // the heart is connected
    direct = await fc.connectDirect();
    const set = await direct.replyTo(direct.send('execute_request', { code: 'var kept = 41' }));
    assert.equal((set.content as { status: string }).status, 'ok');
  });
  after(() => fc.close());

  /**
   * Resolves when the engine reports `req` running: its engine_activity goes out before the user
   * code runs when the previous report is REPORT_INTERVAL_MS old (the loop waits that long), else
   * a heartbeat names it.
   */
  function started(req: Message): Promise<unknown> {
    const id = req.header.msg_id;
    const activity = fc.main.next((m) => m.header.msg_type === 'engine_activity' && (m.content as ContentMap['engine_activity']).direct_running?.msg_id === id, 10_000, `engine_activity naming ${id}`);
    const beat = fc.heart.next((m) => m.header.msg_type === 'heartbeat' && (m.content as ContentMap['heartbeat']).running?.msg_id === id, 10_000, `a heartbeat naming ${id}`);
    return Promise.race([activity, beat]);
  }

  it(`ends each of ${ROUNDS * DELAYS_MS.length} requests with InterruptError, whenever the interrupt comes`, async () => {
    const failures: string[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      for (const [i, delay] of DELAYS_MS.entries()) {
        const r = REQUESTS[(round + i) % REQUESTS.length];
        const req = direct.send(r.type, r.content as ContentMap['execute_request']);
        await started(req);
        if (delay > 0) await sleep(delay);
        fc.sendHeart('interrupt_request', {});
        let content: { status?: string; ename?: string };
        try {
          // Far less than the 20 s sleep; a lost interrupt leaves a busy loop running forever.
          content = (await direct.replyTo(req, undefined, 5000)).content as typeof content;
        } catch {
          failures.push(`${r.what}, interrupted ${delay} ms after it started: no reply within 5 s (engine exit code ${fc.engine!.exitCode}, signal ${fc.engine!.signalCode})`);
          break; // the engine is stuck in that request: the next ones would only queue behind it
        }
        if (content.ename !== 'InterruptError') failures.push(`${r.what}, interrupted ${delay} ms after it started: ${JSON.stringify(content)}`);
        await sleep(REPORT_INTERVAL_MS + 1); // so the next start is reported at once
      }
      if (failures.some((f) => f.includes('no reply'))) break;
    }
    assert.deepEqual(failures, []);
    const kept = await direct.replyTo(direct.send('execute_request', { code: 'kept + 1' }));
    assert.deepEqual(kept.content, { status: 'ok', execution_count: (kept.content as { execution_count: number }).execution_count, result: '42' });
    assert.equal(fc.engine!.exitCode, null, 'the engine is alive');
  });

  it('takes an interrupt_request on the main connection too (a controller without the heart yet sends it there)', async () => {
    const req = fc.send('execute_request', { code: SLEEP });
    await fc.heart.next((m) => m.header.msg_type === 'heartbeat' && (m.content as ContentMap['heartbeat']).running?.msg_id === req.header.msg_id);
    fc.send('interrupt_request', {});
    assert.equal(((await fc.reply(req, 5000)).msg.content as { ename?: string }).ename, 'InterruptError');
    // With msg_ids: only when they name the running request.
    const other = fc.send('execute_request', { code: 'await new Promise((r) => setTimeout(r, 300)); "done"' });
    await fc.heart.next((m) => m.header.msg_type === 'heartbeat' && (m.content as ContentMap['heartbeat']).running?.msg_id === other.header.msg_id);
    fc.send('interrupt_request', { msg_ids: ['not-this-one'] });
    assert.deepEqual(((await fc.reply(other, 5000)).msg.content as { result?: string }).result, "'done'");
    const named = fc.send('execute_request', { code: SLEEP });
    await fc.heart.next((m) => m.header.msg_type === 'heartbeat' && (m.content as ContentMap['heartbeat']).running?.msg_id === named.header.msg_id);
    fc.send('interrupt_request', { msg_ids: [named.header.msg_id] });
    assert.equal(((await fc.reply(named, 5000)).msg.content as { ename?: string }).ename, 'InterruptError');
    assert.equal(((await fc.request('execute_request', { code: 'kept' })).content as { result?: string }).result, '41');
  });
});
