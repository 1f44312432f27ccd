/**
 * Interrupting user code. The heart worker raises SIGINT in this process; what stops depends
 * on what is running:
 * - synchronous code runs under vm's `breakOnSigint`, whose watchdog terminates it;
 * - an awaited task is rejected by the process-level SIGINT listener.
 * The listener also keeps a stray SIGINT from killing the engine (its default action).
 */
import vm from 'node:vm';
import { InterruptError } from './errors.js';

let rejectAwaited: ((e: Error) => void) | null = null;

process.on('SIGINT', () => {
  const reject = rejectAwaited;
  rejectAwaited = null;
  reject?.(new InterruptError());
});

function isInterrupted(e: unknown): boolean {
  return (e as { code?: unknown } | null)?.code === 'ERR_SCRIPT_EXECUTION_INTERRUPTED';
}

/** Runs a compiled script in `ctx` so that SIGINT stops it with InterruptError. */
export function runScript(script: vm.Script, ctx: vm.Context): unknown {
  try {
    return script.runInContext(ctx, { breakOnSigint: true });
  } catch (e) {
    if (isInterrupted(e)) throw new InterruptError();
    throw e;
  }
}

// A plain function call has no breakOnSigint option, so it goes through a one-line script.
const THUNK = Symbol.for('multiengine.thunk');
const callThunk = new vm.Script('globalThis[Symbol.for("multiengine.thunk")]()', { filename: 'multiengine:call' });

/** Calls `f` so that SIGINT stops its synchronous part with InterruptError. */
export function callInterruptible<T>(f: () => T): T {
  const g = globalThis as unknown as Record<symbol, unknown>;
  g[THUNK] = f;
  try {
    return callThunk.runInThisContext({ breakOnSigint: true }) as T;
  } catch (e) {
    if (isInterrupted(e)) throw new InterruptError();
    throw e;
  } finally {
    delete g[THUNK];
  }
}

/** Awaits `p`, or rejects with InterruptError when SIGINT arrives first. */
export function awaitInterruptible<T>(p: PromiseLike<T>): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    rejectAwaited = reject;
    const done = (): void => {
      if (rejectAwaited === reject) rejectAwaited = null;
    };
    p.then(
      (v) => {
        done();
        resolve(v);
      },
      (e: unknown) => {
        done();
        reject(e);
      },
    );
  });
}

export function isThenable(v: unknown): v is PromiseLike<unknown> {
  return (typeof v === 'object' || typeof v === 'function') && v !== null && typeof (v as { then?: unknown }).then === 'function';
}
