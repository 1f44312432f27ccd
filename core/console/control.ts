/**
 * The app's side channel to the console: newline-delimited JSON on a private Unix socket
 * whose path the console gets in MULTIENGINE_CONSOLE_CONTROL. It carries what the app's UI
 * decides (today: the %px targets) without typing into the user's terminal, so nothing shows
 * in the transcript, no `In []` number is taken and a half-typed line is left alone.
 *
 *   app → console   {"type":"targets","targets":[0,2],"seq":3}   (or "targets":"all")
 *   console → app   {"type":"applied","seq":3}                    once those targets are in force
 *
 * This file is the wire format, checked once on each side; controlServer.ts is the app's end,
 * controlClient.ts the console's.
 */

export const CONTROL_ENV = 'MULTIENGINE_CONSOLE_CONTROL';

export type ControlTargets = number[] | 'all';

export interface TargetsMessage {
  type: 'targets';
  targets: ControlTargets;
  /** When present, the console answers with an AppliedMessage of the same seq. */
  seq?: number;
}

export interface AppliedMessage {
  type: 'applied';
  seq: number;
}

export class ControlMessageError extends Error {}

/** One line as JSON + newline. */
export function encodeControl(msg: TargetsMessage | AppliedMessage): string {
  return `${JSON.stringify(msg)}\n`;
}

function isSeq(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

function show(line: string): string {
  return JSON.stringify(line.length > 80 ? `${line.slice(0, 80)}…` : line);
}

/** A line from the app; throws ControlMessageError saying what is wrong with it. */
export function parseTargetsMessage(line: string): TargetsMessage {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    throw new ControlMessageError(`not JSON: ${show(line)}`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new ControlMessageError(`not an object: ${show(line)}`);
  const m = v as Record<string, unknown>;
  if (m.type !== 'targets') throw new ControlMessageError(`unknown type ${JSON.stringify(m.type)} (expected "targets"): ${show(line)}`);
  if (m.seq !== undefined && !isSeq(m.seq)) throw new ControlMessageError(`seq must be a whole number >= 0: ${show(line)}`);
  const t = m.targets;
  const ok = t === 'all' || (Array.isArray(t) && t.length > 0 && t.every(isSeq) && new Set(t).size === t.length);
  if (!ok) throw new ControlMessageError(`targets must be "all" or a non-empty list of distinct engine ids: ${show(line)}`);
  const msg: TargetsMessage = { type: 'targets', targets: t === 'all' ? 'all' : [...t] };
  if (m.seq !== undefined) msg.seq = m.seq;
  return msg;
}

/** A line from the console: its seq, or undefined when it is not an AppliedMessage. */
export function parseApplied(line: string): number | undefined {
  try {
    const v = JSON.parse(line) as Record<string, unknown> | null;
    return v && v.type === 'applied' && isSeq(v.seq) ? v.seq : undefined;
  } catch {
    return undefined;
  }
}

/** Splits a socket's text into lines, keeping a partial last line for the next chunk. */
export function lineSplitter(onLine: (line: string) => void): (chunk: string) => void {
  let rest = '';
  return (chunk) => {
    rest += chunk;
    let nl: number;
    while ((nl = rest.indexOf('\n')) >= 0) {
      const line = rest.slice(0, nl).trim();
      rest = rest.slice(nl + 1);
      if (line) onLine(line);
    }
  };
}
