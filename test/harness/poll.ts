/**
 * Waiting in tests: poll for a condition instead of sleeping for a guess. `sleep` is for the
 * few tests that mean "nothing happens during this time" (say so where you call it).
 */

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Polls `check` until it returns true or `timeoutMs` passes; returns the last answer. */
export async function eventually(check: () => boolean | Promise<boolean>, timeoutMs = 5000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await sleep(20);
  }
  return check();
}

/** Polls `check` until it returns true; throws naming `what` after `timeoutMs`. */
export async function until(check: () => boolean | Promise<boolean>, timeoutMs = 5000, what = 'condition'): Promise<void> {
  if (!(await eventually(check, timeoutMs))) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}
