/**
 * Issue 11: an abort can reach an engine before its request (a single-engine request comes
 * straight from the client on a direct connection, its abort through the controller). Both
 * engines remember such msg_ids and answer the request 'aborted' when it comes: it never runs.
 * Deterministic: the abort is sent first and seen (a later request on the same connection is
 * answered) before the request is sent, over the engine's real sockets.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { randomUUID as newId } from 'node:crypto';
import { FakeController, noPython, type EngineKind } from './fakeController.js';

/** Code that binds `ran`, in each language. */
const SET_RAN: Record<EngineKind, string> = { node: 'var ran = 1', python: 'ran = 1' };

for (const kind of ['node', 'python'] as const) {
  describe(`${kind} engine: an abort that arrives before its request`, { skip: kind === 'python' && noPython }, () => {
    const fc = new FakeController(100, 0, kind);
    before(async () => {
      await fc.listen();
      await fc.startEngine();
    });
    after(() => fc.close());

    /** Sends abort_request for `ids` on the main connection and waits until the engine has read it. */
    async function abortFirst(ids: string[]): Promise<void> {
      fc.send('abort_request', { msg_ids: ids });
      await fc.request('keys_request', {}); // answered after the abort was handled: same connection, in order
    }

    async function ranIsUnset(): Promise<void> {
      const pulled = (await fc.request('pull_request', { names: ['ran'] })).content as { status: string; ename?: string };
      assert.deepEqual([pulled.status, pulled.ename], ['error', 'NameError'], 'the aborted request must not have run');
    }

    it('a direct request whose abort came first is answered aborted and never runs', async () => {
      await fc.request('clear_request', {});
      const direct = await fc.connectDirect();
      const id = newId();
      await abortFirst([id]);
      const req = direct.send('execute_request', { code: SET_RAN[kind] }, { msgId: id });
      const reply = await direct.replyTo(req);
      assert.deepEqual(reply.content, { status: 'aborted' });
      assert.equal(reply.header.msg_type, 'execute_reply');
      await ranIsUnset();
      // The next request on that connection runs as usual.
      const next = await direct.replyTo(direct.send('execute_request', { code: SET_RAN[kind] }));
      assert.equal((next.content as { status: string }).status, 'ok');
    });

    it('so is one through the controller', async () => {
      await fc.request('clear_request', {});
      const id = newId();
      await abortFirst([id]);
      const reply = await fc.request('execute_request', { code: SET_RAN[kind] }, { msgId: id });
      assert.deepEqual(reply.content, { status: 'aborted' });
      await ranIsUnset();
    });

    it('remembers a bounded number of them, forgetting the oldest first', async () => {
      await fc.request('clear_request', {});
      const ids = Array.from({ length: 4097 }, () => newId()); // one more than the engines keep
      await abortFirst(ids);
      const newest = await fc.request('execute_request', { code: SET_RAN[kind] }, { msgId: ids[4096] });
      assert.deepEqual(newest.content, { status: 'aborted' });
      await ranIsUnset();
      const oldest = await fc.request('execute_request', { code: SET_RAN[kind] }, { msgId: ids[0] });
      assert.equal((oldest.content as { status: string }).status, 'ok', 'the oldest was forgotten: that request runs');
    });
  });
}
