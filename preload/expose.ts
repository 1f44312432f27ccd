/**
 * Builds `window.multiengine` over Electron IPC and exposes it through contextBridge.
 * Only the named functions of the contract cross the bridge; the ipcRenderer object, its
 * methods and the IPC event objects stay on this side.
 */
import { createApi, type MultiengineApi, type Reply, type Transport } from './contract.js';

/** The parts of Electron's contextBridge and ipcRenderer this uses (structural, so tests can fake them). */
export interface ContextBridgeLike {
  exposeInMainWorld(key: string, api: unknown): void;
}
export interface IpcRendererLike {
  invoke(channel: string, ...args: unknown[]): Promise<unknown>;
  send(channel: string, ...args: unknown[]): void;
  on(channel: string, listener: (event: unknown, ...args: unknown[]) => void): unknown;
  removeListener(channel: string, listener: (event: unknown, ...args: unknown[]) => void): unknown;
}

export const API_GLOBAL = 'multiengine';

export function ipcTransport(ipc: IpcRendererLike): Transport {
  return {
    invoke: (channel, payload) => ipc.invoke(channel, payload) as Promise<Reply>,
    send: (channel, payload) => ipc.send(channel, payload),
    on: (channel, cb) => {
      // The listener drops the IpcRendererEvent: it carries `sender` (the ipcRenderer itself).
      const listener = (_event: unknown, payload: unknown) => cb(payload);
      ipc.on(channel, listener);
      return () => void ipc.removeListener(channel, listener);
    },
  };
}

export function exposeApi(bridge: ContextBridgeLike, ipc: IpcRendererLike): MultiengineApi {
  const api = createApi(ipcTransport(ipc));
  bridge.exposeInMainWorld(API_GLOBAL, api);
  return api;
}
