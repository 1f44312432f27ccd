/**
 * Message <-> frame parts, with HMAC-SHA256 signing in Jupyter's scheme:
 *   parts = [signature, header, parent_header, metadata, content, ...buffers]
 *   signature = hex(HMAC-SHA256(key, header || parent_header || metadata || content))
 * Buffers are not signed (as in Jupyter) so large arrays cost no hashing.
 */
import crypto, { createHmac, timingSafeEqual } from 'node:crypto';
import { isValidHeader, type Message } from '../protocol/messages.js';

export const JSON_PARTS = 4;

/** Inputs up to this size are signed with two one-shot hashes (see Signer.mac), larger ones through createHmac. */
const ONE_SHOT_MAX_BYTES = 8192;
const oneShot = typeof (crypto as { hash?: unknown }).hash === 'function';

export class Signer {
  private readonly key: Buffer;
  /** [key XOR ipad (64 bytes) | room for the message]: HMAC's inner hash input, made in place. */
  private readonly inner: Buffer | null = null;
  /** [key XOR opad (64 bytes) | inner digest (32 bytes)]: the outer hash input. */
  private readonly outer: Buffer | null = null;
  constructor(key: string) {
    this.key = Buffer.from(key, 'utf8');
    if (oneShot && this.key.length > 0 && this.key.length <= 64) {
      this.inner = Buffer.alloc(64 + ONE_SHOT_MAX_BYTES);
      this.outer = Buffer.alloc(96);
      for (let i = 0; i < 64; i++) {
        const k = i < this.key.length ? this.key[i] : 0;
        this.inner[i] = k ^ 0x36;
        this.outer[i] = k ^ 0x5c;
      }
    }
  }

  /**
   * Hex HMAC-SHA256 of `data`. For small inputs it is computed by its definition,
   * H((K^opad) | H((K^ipad) | data)), with two calls of the one-shot crypto.hash: no Hmac
   * object, no key setup per message (createHmac costs several µs per call on a process
   * that has just woken up, and every message is signed or checked once per hop).
   */
  private mac(data: Uint8Array): string {
    const inner = this.inner;
    if (inner === null || data.byteLength > ONE_SHOT_MAX_BYTES) return createHmac('sha256', this.key).update(data).digest('hex');
    inner.set(data, 64);
    const digest = crypto.hash('sha256', inner.subarray(0, 64 + data.byteLength), 'buffer');
    const outer = this.outer!;
    outer.set(digest, 64);
    return crypto.hash('sha256', outer, 'hex');
  }

  /** False for the empty key: signatures are then empty. */
  get enabled(): boolean {
    return this.key.length > 0;
  }

  sign(jsonParts: readonly Uint8Array[]): Buffer {
    if (this.key.length === 0) return Buffer.alloc(0);
    return Buffer.from(this.hex(jsonParts), 'latin1');
  }

  /** The hex signature of the JSON parts; they are hashed as one run when they lie back to back in memory. */
  private hex(jsonParts: readonly Uint8Array[]): string {
    const first = jsonParts[0];
    const last = jsonParts[JSON_PARTS - 1];
    let contiguous = true;
    for (let i = 1; i < JSON_PARTS && contiguous; i++) {
      const prev = jsonParts[i - 1];
      contiguous = jsonParts[i].buffer === first.buffer && jsonParts[i].byteOffset === prev.byteOffset + prev.byteLength;
    }
    if (contiguous) return this.mac(new Uint8Array(first.buffer, first.byteOffset, last.byteOffset + last.byteLength - first.byteOffset));
    const h = createHmac('sha256', this.key);
    for (let i = 0; i < JSON_PARTS; i++) h.update(jsonParts[i]);
    return h.digest('hex');
  }

  /** Writes the signature of `json` (the four JSON parts back to back) into `out` at `offset` (64 bytes). */
  signInto(json: Uint8Array, out: Buffer, offset: number): void {
    out.write(this.mac(json), offset, 'latin1');
  }

  /** True when parts[0] is the right signature of parts[1..4]. */
  verify(parts: readonly Uint8Array[]): boolean {
    if (parts.length < 1 + JSON_PARTS) return false;
    const got = parts[0];
    if (this.key.length === 0) return got.byteLength === 0;
    if (got.byteLength !== SIGNATURE_BYTES) return false;
    const expected = Buffer.from(this.hex(parts.slice(1, 1 + JSON_PARTS)), 'latin1');
    return timingSafeEqual(got, expected);
  }
}

/** Length of a hex HMAC-SHA256 signature. */
const SIGNATURE_BYTES = 64;

/**
 * A message as frame bytes, ready to write: one buffer holding the frame head, the signature
 * and the four JSON parts (encoded straight into it and signed in one pass), and the message's
 * buffers by reference. Byte for byte the frame of encodeMessage's parts.
 */
export function encodeMessageFrame(msg: Message, signer: Signer): { head: Buffer; buffers: readonly Uint8Array[] } {
  const json = [JSON.stringify(msg.header), JSON.stringify(msg.parent_header), JSON.stringify(msg.metadata), JSON.stringify(msg.content)];
  const buffers = msg.buffers;
  const count = 1 + JSON_PARTS + buffers.length;
  const sigBytes = signer.enabled ? SIGNATURE_BYTES : 0;
  const prefix = 8 + 4 * count;
  const lengths = new Array<number>(JSON_PARTS);
  let jsonBytes = 0;
  for (let i = 0; i < JSON_PARTS; i++) jsonBytes += lengths[i] = Buffer.byteLength(json[i], 'utf8');
  let bufferBytes = 0;
  for (const b of buffers) bufferBytes += b.byteLength;
  const head = Buffer.allocUnsafe(prefix + sigBytes + jsonBytes);
  head.writeUInt32BE(4 + 4 * count + sigBytes + jsonBytes + bufferBytes, 0);
  head.writeUInt32BE(count, 4);
  head.writeUInt32BE(sigBytes, 8);
  for (let i = 0; i < JSON_PARTS; i++) head.writeUInt32BE(lengths[i], 12 + 4 * i);
  for (let i = 0; i < buffers.length; i++) head.writeUInt32BE(buffers[i].byteLength, 12 + 4 * JSON_PARTS + 4 * i);
  let off = prefix + sigBytes;
  for (let i = 0; i < JSON_PARTS; i++) off += head.write(json[i], off, lengths[i], 'utf8');
  if (sigBytes > 0) signer.signInto(head.subarray(prefix + sigBytes), head, prefix);
  return { head, buffers };
}

/** JSON part `i` (0 header, 1 parent_header, 2 metadata, 3 content) of a frame head that encodeMessageFrame made, as a view into it. */
export function framePart(head: Buffer, i: number): Buffer {
  let at = 8 + 4 * head.readUInt32BE(4) + head.readUInt32BE(8);
  for (let k = 0; k < i; k++) at += head.readUInt32BE(12 + 4 * k);
  return head.subarray(at, at + head.readUInt32BE(12 + 4 * i));
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
    header = parseJson(parts[1]);
    parent = parseJson(parts[2]);
    metadata = parseJson(parts[3]);
    content = parseJson(parts[4]);
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

/** JSON.parse of a part; `{}` (an empty parent_header, metadata or content: most messages have one) without the parser. */
function parseJson(b: Buffer): unknown {
  if (b.length === 2 && b[0] === 0x7b && b[1] === 0x7d) return {};
  return JSON.parse(b.toString('utf8'));
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
