/**
 * A stored value's messages as one blob (for a BLOB column and a worker message):
 * u32 message count, then per message a u32 part count and per part a u32 length and its bytes.
 */
export function packMessages(messages: readonly (readonly Uint8Array[])[]): Uint8Array {
  let n = 4;
  for (const m of messages) {
    n += 4;
    for (const p of m) n += 4 + p.byteLength;
  }
  const out = new Uint8Array(n);
  const view = new DataView(out.buffer);
  let at = 0;
  const u32 = (x: number) => {
    view.setUint32(at, x);
    at += 4;
  };
  u32(messages.length);
  for (const m of messages) {
    u32(m.length);
    for (const p of m) {
      u32(p.byteLength);
      out.set(p, at);
      at += p.byteLength;
    }
  }
  return out;
}

/** The messages packed by packMessages; throws on a blob that is cut short. */
export function unpackMessages(blob: Uint8Array): Uint8Array[][] {
  const view = new DataView(blob.buffer, blob.byteOffset, blob.byteLength);
  let at = 0;
  const u32 = () => {
    if (at + 4 > blob.byteLength) throw new RangeError('stored value is cut short');
    const x = view.getUint32(at);
    at += 4;
    return x;
  };
  const out: Uint8Array[][] = [];
  for (let i = u32(); i > 0; i--) {
    const parts: Uint8Array[] = [];
    for (let j = u32(); j > 0; j--) {
      const len = u32();
      if (at + len > blob.byteLength) throw new RangeError('stored value is cut short');
      parts.push(blob.subarray(at, at + len));
      at += len;
    }
    out.push(parts);
  }
  return out;
}
