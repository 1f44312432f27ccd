/** How the controller's rooms answer: messages signed with the controller's session and key. */
import { createMessage, errorContent, type ContentMap, type Header, type Message, type Metadata, type MsgType } from '../protocol/messages.js';
import { encodeMessage, JSON_PARTS, type Signer } from '../transport/codec.js';
import type { Connection } from '../transport/connection.js';

/**
 * `{status:'ok'}` for replies with no fields. messages.ts types those as
 * `Reply<Record<string, never>>`, whose 'ok' branch no value can satisfy, hence the cast.
 */
export const OK = { status: 'ok' } as unknown as ContentMap['abort_reply'];

export class Replier {
  constructor(
    readonly session: string,
    private readonly signer: Signer,
  ) {}

  message<T extends MsgType>(type: T, content: ContentMap[T], parent?: Header, metadata: Metadata = {}): Message<T> {
    return createMessage(type, content, { session: this.session, parent, metadata });
  }

  /** Signed parts, to write the same bytes to many connections (or keep them in the result store). */
  encode<T extends MsgType>(type: T, content: ContentMap[T], parent?: Header, metadata: Metadata = {}): Uint8Array[] {
    return encodeMessage(this.message(type, content, parent, metadata), this.signer);
  }

  /** Parts of an error reply of `type` answering `parent`. */
  encodeError(type: MsgType, parent: Header, ename: string, evalue: string, metadata: Metadata = {}): Uint8Array[] {
    return this.encode(type, errorContent(ename, evalue) as ContentMap[MsgType], parent, metadata);
  }

  /** A whole message (with buffers) signed, as parts. */
  signed(msg: Message): Uint8Array[] {
    return encodeMessage(msg, this.signer);
  }

  /** Stored signed parts signed again with this controller's key (a stored value may predate a key change). */
  resign(parts: readonly Uint8Array[]): Uint8Array[] {
    const json = parts.slice(1, 1 + JSON_PARTS);
    return [this.signer.sign(json), ...parts.slice(1)];
  }

  /** Signed parts with the metadata part replaced by `metadata` (signed again, once). */
  withMetadata(parts: readonly Uint8Array[], metadata: Metadata): Uint8Array[] {
    const json = [parts[1], parts[2], Buffer.from(JSON.stringify(metadata)), parts[4]];
    return [this.signer.sign(json), ...json, ...parts.slice(1 + JSON_PARTS)];
  }

  reply<T extends MsgType>(conn: Connection, parent: Header, type: T, content: ContentMap[T], metadata: Metadata = {}): void {
    conn.send(this.message(type, content, parent, metadata));
  }

  error(conn: Connection, parent: Header, type: MsgType, ename: string, evalue: string, metadata: Metadata = {}): void {
    conn.send(this.message(type, errorContent(ename, evalue) as ContentMap[MsgType], parent, metadata));
  }
}

/** `<x>_reply` for `<x>_request` (or for anything else, `<type>_reply`). */
export function replyTypeFor(type: string): MsgType {
  return (type.endsWith('_request') ? type.slice(0, -'_request'.length) + '_reply' : `${type}_reply`) as MsgType;
}

/** A client request the controller refuses; becomes an error reply with this ename. */
export class RequestError extends Error {
  constructor(
    readonly ename: string,
    message: string,
  ) {
    super(message);
  }
}
