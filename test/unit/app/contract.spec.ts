// The preload contract: the exact key set of window.multiengine, each function bound to its
// one channel, and nothing of ipcRenderer reachable from what is exposed.
import { describe, expect, it, vi } from 'vitest';
import { API_KEYS, CHANNEL_PATTERN, EVENT_CHANNELS, INVOKE_CHANNELS, SEND_CHANNELS } from '../../../preload/contract.js';
import { API_GLOBAL, exposeApi, type IpcRendererLike } from '../../../preload/expose.js';

const EXPECTED_KEYS = [
  'addEngines',
  'attachCluster',
  'copyText',
  'engineProfile',
  'engineSetOutput',
  'engineStack',
  'execute',
  'gather',
  'getAppInfo',
  'getCluster',
  'getClusterForm',
  'getMetricsHistory',
  'getStreamTask',
  'getTask',
  'interruptEngines',
  'listClusterEvents',
  'listEngineSets',
  'listEngines',
  'listNamespace',
  'listTaskStream',
  'listTasks',
  'onClusterChanged',
  'onClusterEvents',
  'onEngineSetsChanged',
  'onEnginesChanged',
  'onLogLines',
  'onMetricsSample',
  'onNamespacesChanged',
  'onPtyData',
  'onPtyExit',
  'onTaskChanged',
  'onTaskStream',
  'openExternal',
  'ptyAck',
  'ptyAttach',
  'ptyResize',
  'ptyRestart',
  'ptyWrite',
  'pull',
  'push',
  'restartCluster',
  'restartEngine',
  'scatter',
  'searchLogs',
  'setPxTargets',
  'startCluster',
  'startNewCluster',
  'stopCluster',
  'stopEngine',
  'stopEngineSet',
];

function fakeIpc() {
  const listeners = new Map<string, ((event: unknown, ...args: unknown[]) => void)[]>();
  const ipc = {
    invoke: vi.fn(async (channel: string, payload: unknown) => ({ ok: true, value: { channel, payload } })),
    send: vi.fn(),
    on: vi.fn((channel: string, l: (event: unknown, ...args: unknown[]) => void) => {
      listeners.set(channel, [...(listeners.get(channel) ?? []), l]);
      return ipc;
    }),
    removeListener: vi.fn((channel: string, l: (event: unknown, ...args: unknown[]) => void) => {
      listeners.set(
        channel,
        (listeners.get(channel) ?? []).filter((x) => x !== l),
      );
      return ipc;
    }),
    sendSync: vi.fn(),
    postMessage: vi.fn(),
  };
  return { ipc, listeners };
}

function expose() {
  const { ipc, listeners } = fakeIpc();
  const exposed: [string, unknown][] = [];
  exposeApi({ exposeInMainWorld: (key, api) => exposed.push([key, api]) }, ipc as unknown as IpcRendererLike);
  expect(exposed).toHaveLength(1);
  return { ipc, listeners, key: exposed[0][0], api: exposed[0][1] as Record<string, unknown> };
}

describe('the preload contract', () => {
  it('exposes exactly the named functions, as window.multiengine', () => {
    const { key, api } = expose();
    expect(key).toBe('multiengine');
    expect(API_GLOBAL).toBe('multiengine');
    expect(Object.keys(api).sort()).toEqual(EXPECTED_KEYS);
    expect([...API_KEYS]).toEqual(EXPECTED_KEYS);
    for (const k of EXPECTED_KEYS) expect(typeof api[k], k).toBe('function');
    expect(Object.isFrozen(api)).toBe(true);
  });

  it('uses one me:<domain>:<verb> channel per function, none twice', () => {
    const all = [...Object.values(INVOKE_CHANNELS), ...Object.values(SEND_CHANNELS), ...Object.values(EVENT_CHANNELS)];
    for (const c of all) expect(c).toMatch(CHANNEL_PATTERN);
    expect(new Set(all).size).toBe(all.length);
  });

  it('binds each request function to its channel with invoke', async () => {
    const { ipc, api } = expose();
    for (const [name, channel] of Object.entries(INVOKE_CHANNELS)) {
      ipc.invoke.mockClear();
      const payload = { probe: name };
      const value = await (api[name] as (p: unknown) => Promise<unknown>)(payload);
      expect(ipc.invoke).toHaveBeenCalledTimes(1);
      expect(ipc.invoke).toHaveBeenCalledWith(channel, payload);
      expect(value).toEqual({ channel, payload });
    }
    expect(ipc.send).not.toHaveBeenCalled();
    expect(ipc.sendSync).not.toHaveBeenCalled();
  });

  it('binds terminal traffic to its channel with send', () => {
    const { ipc, api } = expose();
    for (const [name, channel] of Object.entries(SEND_CHANNELS)) {
      ipc.send.mockClear();
      const ret = (api[name] as (p: unknown) => unknown)({ data: 'x' });
      expect(ret).toBeUndefined();
      expect(ipc.send).toHaveBeenCalledWith(channel, { data: 'x' });
    }
    expect(ipc.invoke).not.toHaveBeenCalled();
  });

  it('subscribes each onX to its channel, passes the payload only, and unsubscribes', () => {
    const { ipc, listeners, api } = expose();
    for (const [name, channel] of Object.entries(EVENT_CHANNELS)) {
      const cb = vi.fn();
      const off = (api[name] as (cb: (p: unknown) => void) => () => void)(cb);
      expect(ipc.on).toHaveBeenLastCalledWith(channel, expect.any(Function));
      const fakeEvent = { sender: ipc, ports: [] };
      for (const l of listeners.get(channel) ?? []) l(fakeEvent, { hello: name });
      expect(cb).toHaveBeenCalledWith({ hello: name });
      expect(cb.mock.calls[0]).toHaveLength(1); // never the IpcRendererEvent (its .sender is ipcRenderer)
      off();
      expect(listeners.get(channel)).toEqual([]);
    }
  });

  it('turns an error reply into a thrown error with a readable message', async () => {
    const { ipc, api } = expose();
    ipc.invoke.mockResolvedValueOnce({ ok: false, error: { name: 'PayloadError', message: 'pull.name: "1x" is not a valid name' } } as never);
    await expect((api.pull as (p: unknown) => Promise<unknown>)({ name: '1x', targets: [] })).rejects.toThrow(/not a valid name/);
  });

  it('never exposes ipcRenderer or any of its methods', () => {
    const { ipc, api } = expose();
    const reachable = new Set<unknown>();
    const walk = (v: unknown, depth: number) => {
      if (v === null || (typeof v !== 'object' && typeof v !== 'function') || reachable.has(v) || depth > 3) return;
      reachable.add(v);
      for (const k of Object.getOwnPropertyNames(v)) {
        const d = Object.getOwnPropertyDescriptor(v, k);
        if (d && 'value' in d) walk(d.value, depth + 1);
      }
    };
    walk(api, 0);
    for (const forbidden of [ipc, ...Object.values(ipc)]) expect(reachable.has(forbidden)).toBe(false);
    expect(Object.keys(api).some((k) => /ipc|invoke|sendSync|electron/i.test(k))).toBe(false);
    expect(() => (api.onPtyData as (cb: unknown) => unknown)('not a function')).toThrow(TypeError);
  });
});
