/**
 * Receives the blocks of a gather straight into one buffer, each at its place, so the whole
 * array needs no second copy (and no second set of fresh pages, which costs more than the copy
 * on a VM). The offsets come from a guess: every block is as long as the first to arrive, which
 * holds after a scatter of a length the engines divide evenly. A block of another length is
 * received on its own, and the gather then concatenates as usual (partition.concatenate).
 */
export class GatherTarget {
  private whole: Buffer | null = null;
  private blockBytes = 0;

  constructor(private readonly blocks: number) {}

  /** Buffers for the buffer parts (lengths `rest`) of the reply for block `slot`; null when it does not fit the guess. */
  place(slot: number, rest: readonly number[]): (Buffer | undefined)[] | null {
    if (rest.length !== 1 || slot < 0 || slot >= this.blocks) return null;
    const len = rest[0];
    if (this.whole === null) {
      this.blockBytes = len;
      this.whole = Buffer.allocUnsafeSlow(len * this.blocks);
    }
    if (len !== this.blockBytes) return null;
    return [this.whole.subarray(slot * len, (slot + 1) * len)];
  }
}
