/**
 * One request this client waits on: where it went, which engines still owe a reply, and which
 * slot of its result each engine's reply and output go to.
 */
import type { WorkReplyType } from '../protocol/messages.js';
import { CompositeError } from './errors.js';
import type { StreamName } from './asyncResult.js';
import type { Path } from './pathGate.js';
import type { ReplyDecoder, ResultSink, WorkSubmission } from './viewHost.js';
import type { WorkFrame } from './workFrame.js';

export interface PendingWork {
  /**
   * How it went (or waits to go): gated paths are counted in the PathGate; 'fetch' is a
   * result_request's; 'balanced' went to the controller's scheduler (no engine known, not gated).
   */
  path: Path | 'held' | 'fetch' | 'balanced';
  readonly targets: readonly number[];
  /** Engines that have not answered. */
  readonly waiting: Set<number>;
  /** The encoded request, until it is sent. */
  frame: WorkFrame | null;
  /** Never on a direct connection (metadata.store: the controller keeps its result). */
  viaController?: true;
  sink: ResultSink;
  method: string;
  /** The reply type its engines answer with. */
  readonly reply: WorkReplyType;
  slotByEngine: Map<number, number>;
  /** The slot of a single-target request (replies and streams without engine_id go there). */
  onlySlot: number | undefined;
  /** A load-balanced request's slot: any engine's reply fills it. */
  anySlot?: number;
  remaining: number;
  decode: ReplyDecoder;
  place?: WorkSubmission['place'];
  /** Output that arrived without an engine id from a session not yet known, kept until that engine replies. */
  unattributed?: Map<string, { name: StreamName; text: string }[]>;
}

/** The entry for request `msgId` (sent at `date`) to `targets`, whose replies go to `slots` of `sink` (each slot is told its msg_id and date). */
export function pendingWork(
  path: PendingWork['path'],
  msgId: string,
  date: string | undefined,
  targets: readonly number[],
  slots: readonly number[],
  sink: ResultSink,
  method: string,
  reply: WorkReplyType,
  decode: ReplyDecoder,
  frame: WorkFrame | null,
  place?: WorkSubmission['place'],
): PendingWork {
  const slotByEngine = new Map<number, number>();
  for (let i = 0; i < targets.length; i++) {
    slotByEngine.set(targets[i], slots[i]);
    sink.assign(slots[i], msgId, date);
  }
  return { path, targets: [...targets], waiting: new Set(targets), frame, sink, method, reply, slotByEngine, onlySlot: targets.length === 1 ? slots[0] : undefined, remaining: targets.length, decode, place };
}

/** The entry for load-balanced request `msgId` (sent at `date`): no engine is known until one answers; its reply fills `slot`. */
export function balancedWork(msgId: string, date: string, slot: number, sink: ResultSink, method: string, reply: WorkReplyType, decode: ReplyDecoder): PendingWork {
  sink.assign(slot, msgId, date);
  return { path: 'balanced', targets: [], waiting: new Set(), frame: null, sink, method, reply, slotByEngine: new Map(), onlySlot: slot, anySlot: slot, remaining: 1, decode };
}

/**
 * The values of `w`'s slots (one per engine, in its targets' order) once they are done, without
 * waiting for the rest of its result; rejects with a CompositeError of its engines' errors; or
 * undefined when a slot ended without a reply (connection lost, aborted here, expired).
 */
export async function answerOf(w: PendingWork): Promise<unknown[] | undefined> {
  const { sink } = w;
  const slots = w.anySlot !== undefined ? [w.anySlot] : w.targets.map((t) => w.slotByEngine.get(t)!);
  await sink.slotsDone(slots);
  const mine = slots.map((i) => sink.slots[i]);
  if (mine.some((s) => s.resultReceivedAt === 0)) return undefined;
  const errors = mine.filter((s) => s.error !== undefined).map((s) => s.error!);
  if (errors.length > 0) throw new CompositeError(w.method, errors);
  return mine.map((s) => s.value);
}
