/**
 * Asking a busy engine what it is doing (docs/protocol.md, "Engine probes"): its live stack, and
 * a CPU profile over a few seconds, answered by a thread beside the one running user code, so
 * neither waits for the request that runs. Types only, and no imports: messages.ts's ContentMap
 * extends ProbeContentMap (so the probe messages are ordinary msg_types).
 */

/** One frame of a stack. `line` is 1-based; in a profile it is the line the function starts on (so a function is one frame). */
export interface StackFrame {
  function: string;
  file: string;
  line: number;
}

/** A stack of a profile: indices into ProfileContent.frames, outermost first, and how many samples found it. */
export interface ProfileStack {
  frames: number[];
  count: number;
}

/** Bounds of profile_request.seconds. */
export const PROFILE_SECONDS = { min: 0.1, max: 60 } as const;

interface ProbeError {
  status: 'error';
  ename: string;
  evalue: string;
  traceback: string[];
}
type ProbeReply<T> = ({ status: 'ok' } & T) | ProbeError | { status: 'aborted' };

export interface ProbeContentMap {
  /** The engine's main thread's stack now (client -> controller -> the engine's heart, and back). */
  stack_request: { engine_id: number };
  stack_reply: ProbeReply<{
    engine_id: number;
    /** Outermost first, innermost last. Empty: the main thread runs no code (waits for I/O or an awaited promise). */
    frames: StackFrame[];
    /** The request the engine runs, when it runs one. */
    running?: { msg_id: string; msg_type: string };
  }>;
  /** Samples of the main thread's stack for `seconds` (PROFILE_SECONDS), about every interval_ms. */
  profile_request: { engine_id: number; seconds: number };
  profile_reply: ProbeReply<{
    engine_id: number;
    seconds: number;
    interval_ms: number;
    /** Every sample taken, idle ones included. */
    samples: number;
    /** Samples where the main thread ran no code. */
    idle: number;
    frames: StackFrame[];
    stacks: ProfileStack[];
  }>;
}
export type ProbeRequestType = 'stack_request' | 'profile_request';
