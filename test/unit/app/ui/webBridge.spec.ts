// Web mode's bridge builds the same contract over a WebSocket.
import { describe, expect, it, vi } from 'vitest';
import { API_KEYS, INVOKE_CHANNELS } from '../../../../preload/contract';
import { createWebBridge } from '../../../../renderer/lib/webBridge';

class FakeSocket {
  readyState = 0;
  sent: string[] = [];
  onopen: ((ev: unknown) => void) | null = null;
  onclose: ((ev: unknown) => void) | null = null;
  onmessage: ((ev: { data: unknown }) => void) | null = null;
  onerror: ((ev: unknown) => void) | null = null;
  send(d: string) {
    this.sent.push(d);
  }
  close() {
    this.readyState = 3;
    this.onclose?.({});
  }
  open() {
    this.readyState = 1;
    this.onopen?.({});
  }
  receive(msg: unknown) {
    this.onmessage?.({ data: JSON.stringify(msg) });
  }
}

describe('the web bridge', () => {
  function bridge() {
    const sockets: FakeSocket[] = [];
    const b = createWebBridge({ url: 'ws://127.0.0.1:1/ws', socket: () => (sockets.push(new FakeSocket()), sockets.at(-1)!), reconnectMs: 60_000 });
    return { b, sockets };
  }

  it('has exactly the contract keys', () => {
    const { b } = bridge();
    expect(Object.keys(b.api).sort()).toEqual([...API_KEYS]);
    b.close();
  });

  it('sends requests once open and resolves them with the reply', async () => {
    const { b, sockets } = bridge();
    const p = b.api.pull({ name: 'a', targets: [] });
    expect(sockets[0].sent).toEqual([]);
    sockets[0].open();
    const msg = JSON.parse(sockets[0].sent[0]);
    expect(msg).toEqual({ t: 'invoke', id: 1, channel: INVOKE_CHANNELS.pull, payload: { name: 'a', targets: [] } });
    sockets[0].receive({ t: 'reply', id: 1, reply: { ok: true, value: { name: 'a', values: [] } } });
    await expect(p).resolves.toEqual({ name: 'a', values: [] });
    b.close();
  });

  it('delivers events to subscribers, and fails pending requests when the connection drops', async () => {
    const { b, sockets } = bridge();
    sockets[0].open();
    const cb = vi.fn();
    const off = b.api.onPtyData(cb);
    sockets[0].receive({ t: 'event', channel: 'me:pty:data', payload: { data: 'hi' } });
    expect(cb).toHaveBeenCalledWith({ data: 'hi' });
    off();
    sockets[0].receive({ t: 'event', channel: 'me:pty:data', payload: { data: 'again' } });
    expect(cb).toHaveBeenCalledTimes(1);
    const p = b.api.listEngines();
    b.close();
    await expect(p).rejects.toThrow(/lost the connection/);
  });
});
