/**
 * Bad frames for fuzzing: random bytes, truncated and mutated valid frames, oversized
 * lengths, bad JSON and wrong types under a valid signature, and bad signatures.
 * Deterministic for a seed, so a failure can be replayed.
 */
import { createMessage, type Message } from '../../core/protocol/messages.ts';
import { encodeMessage, Signer } from '../../core/transport/codec.ts';
import { encodeFrame } from '../../core/transport/frame.ts';

export type FuzzKind = 'random' | 'truncated' | 'bitflip' | 'oversized' | 'badjson' | 'wrongtypes' | 'badsig';
export const FUZZ_KINDS: FuzzKind[] = ['random', 'truncated', 'bitflip', 'oversized', 'badjson', 'wrongtypes', 'badsig'];

/** xorshift32: small, fast and seeded. */
export function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 0x100000000;
  };
}

function randomBytes(r: () => number, n: number): Buffer {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = (r() * 256) | 0;
  return b;
}

function signedFrame(signer: Signer, json: Buffer[], buffers: Buffer[] = []): Buffer {
  return encodeFrame([signer.sign(json), ...json, ...buffers]);
}

const WRONG_TYPES: unknown[] = [null, 5, 'text', [], [1, 2], true, { msg_id: 5 }, { msg_id: 'x', msg_type: 7, session: 's' }];

export function validMessage(r: () => number): Message {
  const pick = (r() * 3) | 0;
  if (pick === 0) return createMessage('execute_request', { code: 'a=1' }, { session: 'fuzz', metadata: { targets: [0] } });
  if (pick === 1) return createMessage('status_request', {}, { session: 'fuzz' });
  return createMessage('push_request', { ns: { x: { $t: 'bytes', buf: 0 } } }, { session: 'fuzz', metadata: { targets: [0] }, buffers: [new Uint8Array(16)] });
}

/** One bad frame of the given kind; `signer` holds the real key for kinds that need a valid signature. */
export function badFrame(kind: FuzzKind, r: () => number, signer: Signer): Buffer {
  switch (kind) {
    case 'random':
      return randomBytes(r, 1 + ((r() * 300) | 0));
    case 'truncated': {
      const f = encodeFrame(encodeMessage(validMessage(r), signer));
      return f.subarray(0, Math.max(1, (r() * (f.length - 1)) | 0));
    }
    case 'bitflip': {
      const f = Buffer.from(encodeFrame(encodeMessage(validMessage(r), signer)));
      const flips = 1 + ((r() * 4) | 0);
      for (let i = 0; i < flips; i++) f[(r() * f.length) | 0] ^= 1 << ((r() * 8) | 0);
      return f;
    }
    case 'oversized': {
      const f = Buffer.alloc(16);
      f.writeUInt32BE(0x80000000 + ((r() * 0x7fffffff) | 0), 0);
      f.writeUInt32BE(1 + ((r() * 10) | 0), 4);
      return f;
    }
    case 'badjson': {
      const parts = [Buffer.from('{"msg_id":"a","msg_type":"execute_request","session":"s"}'), Buffer.from('{}'), Buffer.from('{}'), Buffer.from('{}')];
      parts[(r() * 4) | 0] = Buffer.from(['{', '{"a":', '[1,2', 'nul', '\u00ff\u00fe', '{"x":1}}'][(r() * 6) | 0], 'latin1');
      return signedFrame(signer, parts);
    }
    case 'wrongtypes': {
      const v = WRONG_TYPES[(r() * WRONG_TYPES.length) | 0];
      const parts = [JSON.stringify({ msg_id: `w${r()}`, msg_type: 'execute_request', session: 's' }), '{}', '{}', '{}'].map((s) => Buffer.from(s));
      parts[(r() * 4) | 0] = Buffer.from(JSON.stringify(v));
      return signedFrame(signer, parts);
    }
    case 'badsig': {
      const parts: Buffer[] = encodeMessage(validMessage(r), signer).map((p) => Buffer.from(p));
      parts[0] = r() < 0.3 ? Buffer.alloc(0) : randomBytes(r, 64);
      return encodeFrame(parts);
    }
  }
}
