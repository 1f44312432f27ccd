/**
 * The renderer's handle on the contract: `window.multiengine` in the desktop app (from the
 * preload), or the WebSocket bridge in web mode. Components call `api()`.
 */
import type { MultiengineApi } from '../../preload/contract';
import { createWebBridge, type ConnectionState } from './webBridge';

declare global {
  interface Window {
    multiengine?: MultiengineApi;
  }
}

let current: MultiengineApi | null = null;
const stateListeners = new Set<(state: ConnectionState, reconnected: boolean) => void>();

/** Listens to web mode's connection state (never called in the desktop app). */
export function onConnectionState(cb: (state: ConnectionState, reconnected: boolean) => void): () => void {
  stateListeners.add(cb);
  return () => void stateListeners.delete(cb);
}

/** The token of web mode, taken from the page URL once (then removed from the address bar). */
function takeToken(): string | null {
  const url = new URL(window.location.href);
  const token = url.searchParams.get('token');
  if (token) {
    url.searchParams.delete('token');
    window.history.replaceState(null, '', url.pathname + url.search + url.hash);
  }
  return token;
}

export function api(): MultiengineApi {
  if (current) return current;
  if (window.multiengine) {
    current = window.multiengine;
    return current;
  }
  const token = takeToken();
  const proto = window.location.protocol === 'https:' ? 'wss:' : 'ws:';
  const url = `${proto}//${window.location.host}/ws${token ? `?token=${encodeURIComponent(token)}` : ''}`;
  current = createWebBridge({ url, onState: (s, r) => stateListeners.forEach((cb) => cb(s, r)) }).api;
  return current;
}

/** For tests: use this implementation of the contract. */
export function setApi(impl: MultiengineApi | null): void {
  current = impl;
}
