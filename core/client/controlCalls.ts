/**
 * Control requests to the controller (status, abort, add engines, ...) waiting for their
 * replies: each resolves with its ok content or rejects with ControllerError. A reply is
 * checked (core/protocol/validate) here, once, as it is matched to its request: a malformed
 * one fails that request only, with a ProtocolError naming the field.
 */
import type { Message, MsgType } from '../protocol/messages.js';
import { ConnectionError, ControllerError } from './errors.js';
import { checkReplyTo, controlFailure, type OkReply } from './replyDecoders.js';

interface PendingControl {
  msgType: string;
  /** Checks the reply and resolves or rejects; never throws. */
  settle(msg: Message): void;
  reject(e: Error): void;
  timer: NodeJS.Timeout | undefined;
}

export class ControlCalls {
  private readonly pending = new Map<string, PendingControl>();

  /** Waits for the reply to `msgId` (sent by the caller right after); `onOk` runs as the reply is read, before later messages. */
  expect<T extends MsgType, R>(msgId: string, msgType: T, onOk: (content: OkReply<T>) => R, timeoutMs?: number): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      const timer =
        timeoutMs === undefined
          ? undefined
          : setTimeout(() => {
              this.pending.delete(msgId);
              reject(new ControllerError(msgType, 'TimeoutError', `no reply within ${timeoutMs} ms`));
            }, timeoutMs);
      const settle = (msg: Message): void => {
        try {
          const c = checkReplyTo(msgType, msg.content);
          if (c.status === 'ok') resolve(onOk(c));
          else reject(controlFailure(c, msgType));
        } catch (e) {
          reject(new ControllerError(msgType, 'ProtocolError', `malformed ${msg.header.msg_type} from the controller: ${(e as Error).message}`));
        }
      };
      this.pending.set(msgId, { msgType, settle, reject, timer });
    });
  }

  /** The reply to a control request: true when it was one. */
  settle(parentId: string, msg: Message): boolean {
    const c = this.pending.get(parentId);
    if (c === undefined) return false;
    this.pending.delete(parentId);
    clearTimeout(c.timer);
    c.settle(msg);
    return true;
  }

  /** Every request still waiting rejects with ConnectionError(`<type>: <reason>`). */
  failAll(reason: string): void {
    const all = [...this.pending.values()];
    this.pending.clear();
    for (const c of all) {
      clearTimeout(c.timer);
      c.reject(new ConnectionError(`${c.msgType}: ${reason}`));
    }
  }
}
