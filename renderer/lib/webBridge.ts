/**
 * Web mode's bridge: the same contract as the preload's, carried over a WebSocket to the
 * app's server. Copying and opening links are done by the browser itself.
 */
import { ApiError, createApi, type EventChannel, type MultiengineApi, type Reply, type Transport } from '../../preload/contract';

export type ConnectionState = 'connecting' | 'open' | 'closed';

interface SocketLike {
  readyState: number;
  send(data: string): void;
  close(): void;
  onopen: ((ev: unknown) => void) | null;
  onclose: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
}

export interface WebBridgeOptions {
  url: string;
  /** Makes a socket (tests pass a fake). */
  socket?: (url: string) => SocketLike;
  onState?: (state: ConnectionState, reconnected: boolean) => void;
  reconnectMs?: number;
}

export interface WebBridge {
  api: MultiengineApi;
  close(): void;
}

const OPEN = 1;

export function createWebBridge(opts: WebBridgeOptions): WebBridge {
  const makeSocket = opts.socket ?? ((url: string) => new WebSocket(url) as unknown as SocketLike);
  let ws: SocketLike;
  let nextId = 1;
  let closed = false;
  let everOpen = false;
  const pending = new Map<number, (r: Reply) => void>();
  const listeners = new Map<string, Set<(payload: unknown) => void>>();
  let outbox: string[] = [];

  const lost = (): Reply => ({ ok: false, error: { name: 'ConnectionError', message: 'lost the connection to the app server (is `multiengine app --web` still running?)' } });

  function connect(): void {
    opts.onState?.('connecting', false);
    ws = makeSocket(opts.url);
    ws.onopen = () => {
      const reconnected = everOpen;
      everOpen = true;
      for (const m of outbox) ws.send(m);
      outbox = [];
      opts.onState?.('open', reconnected);
    };
    ws.onmessage = (ev) => {
      let msg: { t?: string; id?: number; reply?: Reply; channel?: string; payload?: unknown };
      try {
        msg = JSON.parse(String(ev.data));
      } catch {
        return;
      }
      if (msg.t === 'reply' && typeof msg.id === 'number') {
        const done = pending.get(msg.id);
        pending.delete(msg.id);
        done?.(msg.reply ?? lost());
      } else if (msg.t === 'event' && typeof msg.channel === 'string') {
        for (const cb of listeners.get(msg.channel) ?? []) {
          try {
            cb(msg.payload);
          } catch (e) {
            console.error(e);
          }
        }
      }
    };
    ws.onclose = () => {
      for (const done of pending.values()) done(lost());
      pending.clear();
      opts.onState?.('closed', false);
      if (!closed) setTimeout(connect, opts.reconnectMs ?? 1000);
    };
    ws.onerror = () => {};
  }

  function post(msg: unknown): void {
    const text = JSON.stringify(msg);
    if (ws.readyState === OPEN) ws.send(text);
    else outbox.push(text);
  }

  const transport: Transport = {
    invoke(channel, payload) {
      return new Promise<Reply>((resolve) => {
        const id = nextId++;
        pending.set(id, resolve);
        post({ t: 'invoke', id, channel, payload });
      });
    },
    send(channel, payload) {
      if (ws.readyState === OPEN) post({ t: 'send', channel, payload });
    },
    on(channel: EventChannel, cb) {
      let set = listeners.get(channel);
      if (!set) listeners.set(channel, (set = new Set()));
      set.add(cb);
      return () => void set.delete(cb);
    },
  };

  connect();
  const base = createApi(transport);
  const api: MultiengineApi = Object.freeze({
    ...base,
    copyText: async ({ text }: { text: string }) => {
      try {
        await navigator.clipboard.writeText(text);
      } catch (e) {
        throw new ApiError('ClipboardError', `the browser refused to copy: ${(e as Error).message}`);
      }
    },
    openExternal: async ({ url }: { url: string }) => {
      if (!/^https?:\/\//i.test(url)) throw new ApiError('SecurityError', 'only http(s) links are opened');
      window.open(url, '_blank', 'noopener,noreferrer');
    },
  });
  return {
    api,
    close() {
      closed = true;
      ws.close();
    },
  };
}
