/**
 * A work request encoded once, as it will go on the wire, and its size as the receiver counts
 * it, so that one over the controller's maximum is refused before anything is sent.
 */
import { createMessage, type Metadata } from '../protocol/messages.js';
import { encodeMessage, encodeMessageFrame, type Signer } from '../transport/codec.js';
import type { WorkSubmission } from './viewHost.js';

export type WorkFrame = ReturnType<typeof encodeMessageFrame>;

/** A request encoded: its msg_id and header date (the AsyncResult's `submitted`), its frame and size. */
export interface EncodedWork<S> {
  s: S;
  msgId: string;
  date: string;
  frame: WorkFrame | null;
  size: number;
}

/** `poll`: ask the engine to poll after replying (a quick direct conversation, transport/spin). */
export function encodeWork<S extends WorkSubmission>(s: S, session: string, signer: Signer, poll: boolean): EncodedWork<S> {
  const metadata: Metadata = poll ? { targets: [...s.targets], poll: true } : { targets: [...s.targets] };
  if (s.store === true) metadata.store = true;
  return encodeRequest(s, metadata, session, signer);
}

/** A work request with its `metadata` (targets, or a load-balanced task's `balanced`), encoded once. */
export function encodeRequest<S extends Pick<WorkSubmission, 'msgType' | 'content' | 'buffers'> & { msgId?: string }>(s: S, metadata: Metadata, session: string, signer: Signer): EncodedWork<S> {
  const msg = createMessage(s.msgType, s.content, { session, metadata, buffers: s.buffers, msgId: s.msgId });
  // One buffer for head, signature and JSON (encodeMessageFrame); buffers by reference.
  let frame: WorkFrame | null = null;
  let size: number;
  try {
    frame = encodeMessageFrame(msg, signer);
    size = frame.head.readUInt32BE(0); // the body length, which the receiver checks
  } catch (e) {
    if (!(e instanceof RangeError)) throw e;
    size = 4; // more than a frame can say (4 GiB): count it exactly
    for (const p of encodeMessage(msg, signer)) size += 4 + p.byteLength;
  }
  return { s, msgId: msg.header.msg_id, date: msg.header.date, frame, size };
}
