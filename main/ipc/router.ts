/**
 * The one place renderer traffic enters the services, whichever bridge carried it
 * (Electron IPC or the web-mode WebSocket): look the channel up in the contract, validate
 * the payload, call the handler, and answer with a Reply (errors as data).
 */
import {
  EVENT_CHANNELS,
  INVOKE_BY_CHANNEL,
  SEND_BY_CHANNEL,
  type EventName,
  type EventTypes,
  type InvokeName,
  type InvokeTypes,
  type Reply,
  type SendName,
  type SendTypes,
} from '../../preload/contract.js';
import { invokeValidators, sendValidators } from './validate.js';

export type InvokeHandlers = { [K in InvokeName]: (payload: InvokeTypes[K][0]) => Promise<InvokeTypes[K][1]> | InvokeTypes[K][1] };
export type SendHandlers = { [K in SendName]: (payload: SendTypes[K]) => void };

/** Where pushes to renderers go. */
export interface EventSink {
  emit<K extends EventName>(name: K, payload: EventTypes[K]): void;
}

/** A sink that fans out to any number of listeners (windows, sockets), each given the channel. */
export class EventHub implements EventSink {
  private listeners = new Set<(channel: string, payload: unknown) => void>();

  emit<K extends EventName>(name: K, payload: EventTypes[K]): void {
    const channel = EVENT_CHANNELS[name];
    for (const l of this.listeners) {
      try {
        l(channel, payload);
      } catch {
        /* one broken listener must not stop the others */
      }
    }
  }

  /** Adds a listener; returns its remover. */
  listen(cb: (channel: string, payload: unknown) => void): () => void {
    this.listeners.add(cb);
    return () => void this.listeners.delete(cb);
  }

  get size(): number {
    return this.listeners.size;
  }
}

export function errorReply(e: unknown): Reply {
  const err = e as { name?: unknown; message?: unknown; field?: unknown } | null;
  const name = typeof err?.name === 'string' && err.name ? err.name : 'Error';
  const message = typeof err?.message === 'string' ? err.message : String(e);
  return { ok: false, error: typeof err?.field === 'string' ? { name, message, field: err.field } : { name, message } };
}

export class Router {
  /** Requests refused (unknown channel or bad payload), for diagnostics. */
  rejected = 0;

  constructor(
    private readonly invokes: InvokeHandlers,
    private readonly sends: SendHandlers,
    private readonly log: (line: string) => void = () => {},
  ) {}

  /** Handles one request; never throws. */
  async invoke(channel: unknown, payload: unknown): Promise<Reply> {
    const name = typeof channel === 'string' ? INVOKE_BY_CHANNEL.get(channel) : undefined;
    if (name === undefined) {
      this.rejected++;
      return { ok: false, error: { name: 'ProtocolError', message: `unknown request channel ${JSON.stringify(String(channel)).slice(0, 80)}` } };
    }
    let p: unknown;
    try {
      p = invokeValidators[name](payload);
    } catch (e) {
      this.rejected++;
      this.log(`refused ${channel}: ${(e as Error).message}`);
      return errorReply(e);
    }
    try {
      const handler = this.invokes[name] as (p: unknown) => unknown;
      const value = await handler(p);
      return { ok: true, value: value === undefined ? null : value };
    } catch (e) {
      return errorReply(e);
    }
  }

  /** Handles one fire-and-forget message; false when it was refused. */
  send(channel: unknown, payload: unknown): boolean {
    const name = typeof channel === 'string' ? SEND_BY_CHANNEL.get(channel) : undefined;
    if (name === undefined) {
      this.rejected++;
      return false;
    }
    let p: unknown;
    try {
      p = sendValidators[name](payload);
    } catch (e) {
      this.rejected++;
      this.log(`refused ${channel}: ${(e as Error).message}`);
      return false;
    }
    try {
      (this.sends[name] as (p: unknown) => void)(p);
    } catch (e) {
      this.log(`${channel} failed: ${(e as Error).message}`);
    }
    return true;
  }
}
