// Waiting in the app's specs for what a real cluster does in its own time.
import { vi } from 'vitest';

/** Polls `fn` until it returns a value (not null, undefined or false); fails naming `what`. */
export function until<T>(what: string, fn: () => T | null | undefined | false, timeout = 15_000): Promise<T> {
  return vi.waitFor(
    () => {
      const v = fn();
      if (v === null || v === undefined || v === false) throw new Error(`still waiting for ${what}`);
      return v;
    },
    { timeout, interval: 20 },
  );
}
