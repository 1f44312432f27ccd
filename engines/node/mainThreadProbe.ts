/**
 * What the main thread is doing, seen from the heart worker (docs/protocol.md, "Engine probes").
 * An inspector session on the main thread is served by V8 interrupts, so it answers even while
 * user code spins in a synchronous loop. A stack is one `Debugger.pause`, read at once and
 * resumed: the main thread stops for the round trip between the threads (well under a
 * millisecond on an idle machine). A profile is such a pause about every SAMPLE_MS: V8's own
 * profiler is not used because it leaves out the frames of functions already running when it
 * starts (the loop being asked about). The debugger is enabled only while a probe runs.
 */
import { Session } from 'node:inspector';
import type { ProfileStack, StackFrame } from '../../core/protocol/probe.js';

/** Time between two samples of a profile. */
export const SAMPLE_MS = 10;
/** A main thread that runs no JavaScript never pauses: after this long, the sample says so. */
const PAUSE_WAIT_MS = 200;
/**
 * The same while a request runs, and within a profile: on a loaded machine a spinning main
 * thread can take longer than PAUSE_WAIT_MS to pause, and must not pass for one that runs nothing.
 */
const BUSY_PAUSE_WAIT_MS = 1000;

interface CallFrame {
  functionName: string;
  location: { scriptId: string; lineNumber: number };
  /** Where the function starts. */
  functionLocation?: { lineNumber: number };
}

export interface ProfileResult {
  interval_ms: number;
  samples: number;
  idle: number;
  frames: StackFrame[];
  stacks: ProfileStack[];
}

/** One probe at a time: a second request waits for the first (the debugger is shared). */
let queue: Promise<unknown> = Promise.resolve();

function serially<T>(run: () => Promise<T>): Promise<T> {
  const p = queue.then(run, run);
  queue = p.catch(() => undefined);
  return p;
}

/** A debugger session on the main thread, from enable to disable. */
class MainThreadDebugger {
  private readonly session = new Session();
  private readonly scripts = new Map<string, string>();
  private waiting: ((frames: CallFrame[]) => void) | null = null;
  /** A pause was asked for and has not come yet. */
  private pausePending = false;

  async open(): Promise<void> {
    this.session.connectToMainThread();
    this.session.on('Debugger.scriptParsed', (m) => this.scripts.set(m.params.scriptId, m.params.url));
    // Every pause (ours, or a `debugger` statement in user code) is resumed at once.
    this.session.on('Debugger.paused', (m) => {
      this.pausePending = false;
      const frames = m.params.callFrames as CallFrame[];
      this.post('Debugger.resume').catch(() => undefined);
      const w = this.waiting;
      this.waiting = null;
      w?.(frames);
    });
    await this.post('Debugger.enable');
  }

  /** The main thread's stack, outermost first; [] when it ran no JavaScript within `waitMs`. `byFunction`: each frame's line is where its function starts. */
  async sample(waitMs: number, byFunction = false): Promise<StackFrame[]> {
    const frames = new Promise<CallFrame[] | null>((resolve) => {
      const timer = setTimeout(() => {
        this.waiting = null;
        resolve(null);
      }, waitMs);
      this.waiting = (f) => {
        clearTimeout(timer);
        resolve(f);
      };
    });
    if (!this.pausePending) {
      this.pausePending = true;
      await this.post('Debugger.pause');
    }
    const got = await frames;
    return got ? got.map((f) => this.frame(f, byFunction)).reverse() : [];
  }

  private frame(f: CallFrame, byFunction: boolean): StackFrame {
    const at = byFunction ? (f.functionLocation ?? f.location) : f.location;
    return { function: f.functionName || '(anonymous)', file: this.scripts.get(f.location.scriptId) ?? '', line: at.lineNumber + 1 };
  }

  /** Disabling the debugger also drops a pause still pending (the main thread ran no JavaScript). */
  async close(): Promise<void> {
    await this.post('Debugger.disable').catch(() => undefined);
    this.session.disconnect();
  }

  private post(method: string, params?: object): Promise<unknown> {
    return new Promise((resolve, reject) => this.session.post(method, params, (e, r) => (e ? reject(e) : resolve(r))));
  }
}

async function withDebugger<T>(run: (d: MainThreadDebugger) => Promise<T>): Promise<T> {
  return serially(async () => {
    const d = new MainThreadDebugger();
    try {
      await d.open();
      return await run(d);
    } finally {
      await d.close();
    }
  });
}

/** The main thread's stack now, outermost first (empty: it runs no JavaScript). `busy`: a request runs, so wait longer for the pause. */
export function mainThreadStack(busy: boolean): Promise<StackFrame[]> {
  return withDebugger((d) => d.sample(busy ? BUSY_PAUSE_WAIT_MS : PAUSE_WAIT_MS));
}

/** Samples the main thread's stack for `seconds`, as collapsed stacks over a frame table (functions by their first line). */
export function profileMainThread(seconds: number): Promise<ProfileResult> {
  return withDebugger(async (d) => {
    const table = new ProfileTable();
    const end = Date.now() + seconds * 1000;
    while (Date.now() < end) {
      const started = Date.now();
      const stack = await d.sample(Math.max(SAMPLE_MS, Math.min(BUSY_PAUSE_WAIT_MS, end - started)), true);
      const took = Date.now() - started;
      table.addTimed(stack, took);
      if (took < SAMPLE_MS) await new Promise((r) => setTimeout(r, SAMPLE_MS - took));
    }
    return { interval_ms: SAMPLE_MS, ...table.result() };
  });
}

/** Counts identical stacks; a frame is a function (name, file, first line), so its lines do not split it. */
export class ProfileTable {
  private readonly frames: StackFrame[] = [];
  private readonly frameIds = new Map<string, number>();
  private readonly stacks = new Map<string, ProfileStack>();
  private samples = 0;
  private idle = 0;

  /** `stack` for `n` sampling periods; an empty stack is idle. */
  add(stack: readonly StackFrame[], n = 1): void {
    this.samples += n;
    if (stack.length === 0) {
      this.idle += n;
      return;
    }
    const ids = stack.map((f) => this.frameId(f));
    const key = ids.join(',');
    const s = this.stacks.get(key);
    if (s) s.count += n;
    else this.stacks.set(key, { frames: ids, count: n });
  }

  /**
   * A sample whose pause took `tookMs`. A busy machine may take longer than SAMPLE_MS to pause,
   * so a sample counts for the periods it took and the counts stay shares of the time; a wait
   * that ended with no pause is idle. So is one whose pause was served as the event loop entered
   * JavaScript (the stack is one of node's own entry frames, such as processTimers): it came
   * before any callback ran, so no code of a request ran in it.
   */
  addTimed(stack: readonly StackFrame[], tookMs: number): void {
    const loopEntry = stack.length === 1 && stack[0].file.startsWith('node:');
    this.add(loopEntry ? [] : stack, Math.max(1, Math.round(tookMs / SAMPLE_MS)));
  }

  result(): Omit<ProfileResult, 'interval_ms'> {
    return { samples: this.samples, idle: this.idle, frames: this.frames, stacks: [...this.stacks.values()] };
  }

  private frameId(f: StackFrame): number {
    const key = `${f.function}\0${f.file}\0${f.line}`;
    let id = this.frameIds.get(key);
    if (id === undefined) {
      id = this.frames.length;
      this.frames.push(f);
      this.frameIds.set(key, id);
    }
    return id;
  }
}
