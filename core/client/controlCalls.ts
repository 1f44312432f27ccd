/**
 * Control requests to the controller (status, abort, add engines, ...) waiting for their
 * replies: each resolves with its ok content or rejects with ControllerError.
 */
import type { Message } from '../protocol/messages.js';
import { ConnectionError, ControllerError } from './errors.js';
import { controlFailure, statusOf } from './replyDecoders.js';

interface PendingControl {
  msgType: string;
  resolve(msg: Message): void;
  reject(e: Error): void;
  timer: NodeJS.Timeout | undefined;
}

export class ControlCalls {
  private readonly pending = new Map<string, PendingControl>();

  /** Waits for the reply to `msgId` (sent by the caller right after); `onOk` runs as the reply is read, before later messages. */
  expect<R>(msgId: string, msgType: string, onOk: (msg: Message) => R, timeoutMs?: number): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      const timer =
        timeoutMs === undefined
          ? undefined
          : setTimeout(() => {
              this.pending.delete(msgId);
              reject(new ControllerError(msgType, 'TimeoutError', `no reply within ${timeoutMs} ms`));
            }, timeoutMs);
      this.pending.set(msgId, { msgType, resolve: (msg) => resolve(onOk(msg)), reject, timer });
    });
  }

  /** The reply to a control request: true when it was one. */
  settle(parentId: string, msg: Message): boolean {
    const c = this.pending.get(parentId);
    if (c === undefined) return false;
    this.pending.delete(parentId);
    clearTimeout(c.timer);
    const status = statusOf(msg);
    if (status.status === 'ok') c.resolve(msg);
    else c.reject(controlFailure(status, c.msgType));
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
