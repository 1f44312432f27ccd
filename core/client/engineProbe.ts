/**
 * rc.engineStack and rc.engineProfile (docs/protocol.md, section 16): the
 * requests checked in the caller's words, and the replies as the client API gives them.
 */
import type { ContentMap } from '../protocol/messages.js';
import { PROFILE_SECONDS, type ProfileStack, type StackFrame } from '../protocol/probe.js';

export type { ProfileStack, StackFrame };

/** What an engine's main thread is inside now. */
export interface EngineStack {
  engineId: number;
  /** Outermost first, innermost last; empty when the main thread runs no code (it waits for I/O or an awaited promise). */
  frames: StackFrame[];
  /** The request the engine runs, if any. */
  running?: { msgId: string; msgType: string };
}

/** Samples of an engine's main thread: collapsed stacks over a table of frames (a frame is a function: `line` is where it starts). */
export interface EngineProfile {
  engineId: number;
  seconds: number;
  intervalMs: number;
  /** Every sample, `idle` ones (no code running) included. */
  samples: number;
  idle: number;
  frames: StackFrame[];
  /** frames: indices into `frames`, outermost first. */
  stacks: ProfileStack[];
}

function engineId(what: string, id: unknown): number {
  if (!Number.isSafeInteger(id) || (id as number) < 0) throw new TypeError(`${what}: the engine id must be a whole number ≥ 0, got ${String(id)}`);
  return id as number;
}

export function stackRequest(id: number): ContentMap['stack_request'] {
  return { engine_id: engineId('engineStack', id) };
}

export function profileRequest(id: number, seconds: unknown): ContentMap['profile_request'] {
  const engine_id = engineId('engineProfile', id);
  if (typeof seconds !== 'number' || !(seconds >= PROFILE_SECONDS.min && seconds <= PROFILE_SECONDS.max)) {
    throw new RangeError(`engineProfile: seconds must be a number from ${PROFILE_SECONDS.min} to ${PROFILE_SECONDS.max}, got ${String(seconds)}`);
  }
  return { engine_id, seconds };
}

export function stackOf(r: Extract<ContentMap['stack_reply'], { status: 'ok' }>): EngineStack {
  const s: EngineStack = { engineId: r.engine_id, frames: r.frames };
  if (r.running) s.running = { msgId: r.running.msg_id, msgType: r.running.msg_type };
  return s;
}

export function profileOf(r: Extract<ContentMap['profile_reply'], { status: 'ok' }>): EngineProfile {
  return { engineId: r.engine_id, seconds: r.seconds, intervalMs: r.interval_ms, samples: r.samples, idle: r.idle, frames: r.frames, stacks: r.stacks };
}
