/**
 * Interrupting user code. The heart worker turns `interrupt_request` into two signals:
 * a SIGINT to this process, and an `interrupt` message to the main thread (see heart.ts).
 * - synchronous code runs under vm's `breakOnSigint`, whose SIGINT watchdog terminates it;
 * - an awaited task is rejected when the heart's message arrives (interruptRunning), or,
 *   in the fallback mode below, by a process-level SIGINT listener.
 * An interrupt belongs to the request that runs when the heart reads it (interruptState), not
 * to one stage of it: it can arrive while the request is prepared, during its synchronous part
 * or just after it (the SIGINT then finds no watchdog and is lost), or during an await. So the
 * main thread marks the request interrupted when the message comes (every later interruptible
 * stage of it then throws at once), and the heart sends SIGINT again until the main thread has
 * taken the interrupt or the request has ended (a SIGINT lost before a busy loop started).
 *
 * Speed: a `breakOnSigint` call normally starts and joins node's SIGINT watchdog thread
 * and swaps the process's SIGINT listeners out and back (~40 µs on a quiet machine, much
 * more on a busy one: it was a third of an apply round trip). So the engine holds node's
 * watchdog helper for its whole life (`startSigintWatchdog`, as node's REPL does around an
 * evaluation): each call then only registers with the running helper (< 1 µs), and there is
 * no process SIGINT listener for vm to swap. While no user code runs, the held helper takes
 * SIGINT and ignores it, so a stray SIGINT does not kill the engine. When that internal hook
 * is missing (another node) or user code adds its own SIGINT listeners (which would take the
 * signal away from the helper), the engine falls back to the plain per-call watchdog and a
 * process SIGINT listener that rejects the awaited task; MULTIENGINE_NO_HELD_WATCHDOG=1 in the
 * engine's environment forces that fallback.
 */
import vm from 'node:vm';
import { InterruptError } from './errors.js';
import { newInterruptState, RUNNING, TAKEN } from './interruptState.js';

/** Shared with the heart worker: which request runs, and whose interrupt was taken. */
export const interruptState = newInterruptState();

let epoch = 0;
/** The running request was interrupted: its interruptible stages throw InterruptError. */
let interrupted = false;
let rejectAwaited: ((e: Error) => void) | null = null;

/** A request starts: interrupts from now on are its own. */
export function beginRequest(): void {
  epoch = epoch === 0x7fffffff ? 1 : epoch + 1;
  interrupted = false;
  Atomics.store(interruptState, RUNNING, epoch);
}

/** The request ended: later interrupts find nothing to stop. */
export function endRequest(): void {
  Atomics.store(interruptState, RUNNING, 0);
  interrupted = false;
}

/** Marks the running request interrupted and rejects its awaited task, if any. */
export function interruptCurrent(): void {
  if (Atomics.load(interruptState, RUNNING) !== 0) {
    interrupted = true;
    Atomics.store(interruptState, TAKEN, epoch);
  }
  const reject = rejectAwaited;
  rejectAwaited = null;
  reject?.(new InterruptError());
}

interface Contextify {
  startSigintWatchdog(): boolean;
  stopSigintWatchdog(): boolean;
}

function holdWatchdog(): Contextify | null {
  if (process.env.MULTIENGINE_NO_HELD_WATCHDOG) return null;
  try {
    const binding = (process as unknown as { binding(name: string): Partial<Contextify> }).binding('contextify');
    if (typeof binding.startSigintWatchdog !== 'function' || typeof binding.stopSigintWatchdog !== 'function') return null;
    return binding.startSigintWatchdog() ? (binding as Contextify) : null;
  } catch {
    return null;
  }
}

let held = holdWatchdog();
if (held === null) process.on('SIGINT', interruptCurrent);

/** User code added SIGINT listeners: vm would now juggle them around each call, so stop holding. */
function checkHold(): void {
  if (held !== null && process.listenerCount('SIGINT') > 0) {
    held.stopSigintWatchdog();
    held = null;
    process.on('SIGINT', interruptCurrent);
  }
}

/** The heart relayed an interrupt_request; `running` is interruptState[RUNNING] as the heart read it. */
export function interruptRunning(running: number): void {
  if (running !== 0 && running === Atomics.load(interruptState, RUNNING)) interruptCurrent();
}

/** The running request was interrupted before this stage: it ends here. */
function stopIfInterrupted(): void {
  if (interrupted) throw new InterruptError();
}

/** vm's watchdog stopped the code: the interrupt is taken. */
function interruptedError(): InterruptError {
  interruptCurrent();
  return new InterruptError();
}

function isInterrupted(e: unknown): boolean {
  return (e as { code?: unknown } | null)?.code === 'ERR_SCRIPT_EXECUTION_INTERRUPTED';
}

/** Runs a compiled script in `ctx` so that SIGINT stops it with InterruptError. */
export function runScript(script: vm.Script, ctx: vm.Context): unknown {
  checkHold();
  stopIfInterrupted();
  try {
    return script.runInContext(ctx, { breakOnSigint: true });
  } catch (e) {
    if (isInterrupted(e)) throw interruptedError();
    throw e;
  }
}

// A plain function call has no breakOnSigint option, so it goes through a one-line script.
const THUNK = Symbol.for('multiengine.thunk');
const callThunk = new vm.Script('globalThis[Symbol.for("multiengine.thunk")]()', { filename: 'multiengine:call' });

/** Calls `f` so that SIGINT stops its synchronous part with InterruptError. */
export function callInterruptible<T>(f: () => T): T {
  checkHold();
  stopIfInterrupted();
  const g = globalThis as unknown as Record<symbol, unknown>;
  g[THUNK] = f;
  try {
    return callThunk.runInThisContext({ breakOnSigint: true }) as T;
  } catch (e) {
    if (isInterrupted(e)) throw interruptedError();
    throw e;
  } finally {
    delete g[THUNK];
  }
}

/** Awaits `p`, or rejects with InterruptError when an interrupt arrives first. */
export function awaitInterruptible<T>(p: PromiseLike<T>): Promise<T> {
  if (interrupted) return Promise.reject(new InterruptError());
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
