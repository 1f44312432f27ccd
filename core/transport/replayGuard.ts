/**
 * Remembers the msg_ids of recent messages so a captured, validly signed message that is
 * sent again (a replay) is dropped instead of run twice.
 *
 * Memory is fixed at construction: ids are kept as 64-bit fingerprints in a preallocated
 * open-addressing table (linear probing, backward-shift deletion), and the oldest id is
 * forgotten when a new one arrives at capacity. With 64 bits, a false "replay" among 131,072
 * remembered ids happens about once in 10^14 messages.
 */
export class ReplayGuard {
  /** Fingerprints in arrival order (two uint32 words each), to know which to forget. */
  private readonly ring: Uint32Array;
  /** Hash table of fingerprints; (0, 0) marks an empty slot. */
  private readonly table: Uint32Array;
  private readonly mask: number;
  private next = 0;
  private size = 0;

  constructor(private readonly capacity = 1 << 17) {
    if (capacity < 1 || (capacity & (capacity - 1)) !== 0) throw new RangeError('capacity must be a power of two');
    this.ring = new Uint32Array(2 * capacity);
    this.table = new Uint32Array(4 * capacity); // load factor ≤ 0.5
    this.mask = 2 * capacity - 1;
  }

  /** True the first time an id is offered; false for a replay of a remembered id. */
  admit(msgId: string): boolean {
    const [a, b] = fingerprint(msgId);
    if (this.find(a, b) >= 0) return false;
    if (this.size === this.capacity) {
      this.remove(this.ring[2 * this.next], this.ring[2 * this.next + 1]);
      this.size--;
    }
    this.ring[2 * this.next] = a;
    this.ring[2 * this.next + 1] = b;
    this.next = (this.next + 1) % this.capacity;
    this.insert(a, b);
    this.size++;
    return true;
  }

  private find(a: number, b: number): number {
    const t = this.table;
    for (let i = a & this.mask; ; i = (i + 1) & this.mask) {
      const x = t[2 * i];
      const y = t[2 * i + 1];
      if (x === 0 && y === 0) return -1;
      if (x === a && y === b) return i;
    }
  }

  private insert(a: number, b: number): void {
    const t = this.table;
    let i = a & this.mask;
    while (t[2 * i] !== 0 || t[2 * i + 1] !== 0) i = (i + 1) & this.mask;
    t[2 * i] = a;
    t[2 * i + 1] = b;
  }

  private remove(a: number, b: number): void {
    const t = this.table;
    let hole = this.find(a, b);
    if (hole < 0) return;
    // Shift later entries of the same probe run back into the hole, so lookups still find them.
    for (let j = (hole + 1) & this.mask; t[2 * j] !== 0 || t[2 * j + 1] !== 0; j = (j + 1) & this.mask) {
      const home = t[2 * j] & this.mask;
      const between = hole <= j ? home > hole && home <= j : home > hole || home <= j;
      if (!between) {
        t[2 * hole] = t[2 * j];
        t[2 * hole + 1] = t[2 * j + 1];
        hole = j;
      }
    }
    t[2 * hole] = 0;
    t[2 * hole + 1] = 0;
  }
}

/** Two independent 32-bit string hashes (FNV-1a and a multiplicative one), never both 0. */
function fingerprint(s: string): [number, number] {
  let a = 0x811c9dc5;
  let b = 0x9747b28c;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x5bd1e995);
    b ^= b >>> 15;
  }
  a >>>= 0;
  b >>>= 0;
  return a === 0 && b === 0 ? [0, 1] : [a, b];
}
