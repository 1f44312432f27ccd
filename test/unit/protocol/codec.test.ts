import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { createMessage } from '../../../core/protocol/messages.ts';
import { BadMessage, decodeMessage, encodeMessage, Signer } from '../../../core/transport/codec.ts';

const signer = new Signer('secret-key');

test('a signed message round-trips with its buffers', () => {
  const msg = createMessage('execute_request', { code: 'a=1' }, { session: 's', metadata: { targets: [0, 2] }, buffers: [new Uint8Array([1, 2, 3])] });
  const parts = encodeMessage(msg, signer).map((p) => Buffer.from(p.buffer, p.byteOffset, p.byteLength));
  const back = decodeMessage(parts, signer);
  assert.deepEqual(back.header, msg.header);
  assert.deepEqual(back.content, { code: 'a=1' });
  assert.deepEqual(back.metadata.targets, [0, 2]);
  assert.deepEqual([...back.buffers[0]], [1, 2, 3]);
});

test('the signature is hex HMAC-SHA256 over the four JSON parts', () => {
  const msg = createMessage('keys_request', {}, { session: 's' });
  const parts = encodeMessage(msg, signer);
  const h = createHmac('sha256', 'secret-key');
  for (const p of parts.slice(1, 5)) h.update(p);
  assert.equal(Buffer.from(parts[0]).toString('latin1'), h.digest('hex'));
});

test('a wrong key, a tampered content and junk JSON are refused by name', () => {
  const parts = encodeMessage(createMessage('keys_request', {}, { session: 's' }), signer).map((p) => Buffer.from(p));
  assert.throws(() => decodeMessage(parts, new Signer('other')), (e: unknown) => e instanceof BadMessage && e.reason === 'signature');
  const tampered = [...parts];
  tampered[4] = Buffer.from('{"x":1}');
  assert.throws(() => decodeMessage(tampered, signer), /signature mismatch/);
  const junk = [Buffer.alloc(0), Buffer.from('not json'), Buffer.from('{}'), Buffer.from('{}'), Buffer.from('{}')];
  assert.throws(() => decodeMessage(junk, new Signer('')), /bad JSON/);
  assert.throws(() => decodeMessage(parts.slice(0, 3), signer), /expected at least 5 parts/);
});
