/**
 * Message <-> frame parts, with HMAC-SHA256 signing in Jupyter's scheme:
 *   parts = [signature, header, parent_header, metadata, content, ...buffers]
 *   signature = hex(HMAC-SHA256(key, header || parent_header || metadata || content))
 * Buffers are not signed (as in Jupyter) so large arrays cost no hashing.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { isValidHeader, type Message } from '../protocol/messages.js';

export const JSON_PARTS = 4;

export class Signer {
  private readonly key: Buffer;
  constructor(key: string) {
    this.key = Buffer.from(key, 'utf8');
  }

  sign(jsonParts: readonly Uint8Array[]): Buffer {
    if (this.key.length === 0) return Buffer.alloc(0);
    const h = createHmac('sha256', this.key);
    for (let i = 0; i < JSON_PARTS; i++) h.update(jsonParts[i]);
    return Buffer.from(h.digest('hex'), 'latin1');
  }

  /** True when parts[0] is the right signature of parts[1..4]. */
  verify(parts: readonly Uint8Array[]): boolean {
    if (parts.length < 1 + JSON_PARTS) return false;
    const expected = this.sign(parts.slice(1, 1 + JSON_PARTS));
    const got = parts[0];
    return got.byteLength === expected.byteLength && timingSafeEqual(got, expected);
  }
}

export function encodeMessage(msg: Message, signer: Signer): Uint8Array[] {
  const json = [
    Buffer.from(JSON.stringify(msg.header)),
    Buffer.from(JSON.stringify(msg.parent_header)),
    Buffer.from(JSON.stringify(msg.metadata)),
    Buffer.from(JSON.stringify(msg.content)),
  ];
  return [signer.sign(json), ...json, ...msg.buffers];
}

export class BadMessage extends Error {
  constructor(
    readonly reason: 'signature' | 'malformed',
    message: string,
  ) {
    super(message);
    this.name = 'BadMessage';
  }
}

/** Verifies and parses frame parts; throws BadMessage naming what is wrong. */
export function decodeMessage(parts: Buffer[], signer: Signer): Message {
  if (parts.length < 1 + JSON_PARTS) throw new BadMessage('malformed', `expected at least ${1 + JSON_PARTS} parts, got ${parts.length}`);
  if (!signer.verify(parts)) throw new BadMessage('signature', 'signature mismatch');
  let header: unknown, parent: unknown, metadata: unknown, content: unknown;
  try {
    header = JSON.parse(parts[1].toString('utf8'));
    parent = JSON.parse(parts[2].toString('utf8'));
    metadata = JSON.parse(parts[3].toString('utf8'));
    content = JSON.parse(parts[4].toString('utf8'));
  } catch (e) {
    throw new BadMessage('malformed', `bad JSON: ${(e as Error).message}`);
  }
  if (!isValidHeader(header)) throw new BadMessage('malformed', 'header lacks msg_id, msg_type or session');
  if (!isPlainObject(parent) || !isPlainObject(metadata) || !isPlainObject(content)) {
    throw new BadMessage('malformed', 'parent_header, metadata and content must be JSON objects');
  }
  return {
    header,
    parent_header: parent as Message['parent_header'],
    metadata: metadata as Message['metadata'],
    content: content as Message['content'],
    buffers: parts.slice(1 + JSON_PARTS),
  } as Message;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
