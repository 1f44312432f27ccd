/**
 * The Profile view's part of the contract (an engine's live stack and CPU profile): its data
 * shapes, requests and channels. preload/contract.ts re-exports it and adds its requests to the
 * contract's; like it, this module is pure (no electron, no node:*, no DOM).
 */

/** One frame: `line` is 1-based (in a profile, the line its function starts on). */
export interface ProbeFrame {
  function: string;
  file: string;
  line: number;
}
/** What an engine's main thread is inside now: outermost first; empty when it runs no code. */
export interface EngineStackView {
  engineId: number;
  frames: ProbeFrame[];
  running?: { msgId: string; msgType: string };
}
/** Samples over `seconds`: collapsed stacks (indices into frames, outermost first) with counts of interval_ms periods. */
export interface EngineProfileView {
  engineId: number;
  seconds: number;
  intervalMs: number;
  samples: number;
  idle: number;
  frames: ProbeFrame[];
  stacks: { frames: number[]; count: number }[];
}
export interface EngineProfilePayload {
  id: number;
  seconds: number;
}
export interface ProfileInvokeTypes {
  engineStack: [{ id: number }, EngineStackView];
  engineProfile: [EngineProfilePayload, EngineProfileView];
}
export const PROFILE_CHANNELS = {
  engineStack: 'me:profile:stack',
  engineProfile: 'me:profile:run',
} as const satisfies { [K in keyof ProfileInvokeTypes]: string };
