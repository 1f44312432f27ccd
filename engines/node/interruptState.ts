/**
 * The interrupt state the main thread (interrupt.ts) shares with the heart worker
 * (heartWorker.ts), in an Int32Array over shared memory. Its own module, so the worker can
 * read the layout without loading interrupt.ts (which takes over SIGINT when loaded).
 */
/** The epoch of the request that runs (0: none); the heart sends back what it read, so a late interrupt cannot stop a later request. */
export const RUNNING = 0;
/** The epoch whose interrupt the main thread has taken: the heart stops sending SIGINT again. */
export const TAKEN = 1;

export function newInterruptState(): Int32Array {
  return new Int32Array(new SharedArrayBuffer(2 * Int32Array.BYTES_PER_ELEMENT));
}
