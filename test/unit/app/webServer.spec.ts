// Web mode: the token check (403 for a wrong or missing token), the Host and Origin checks,
// and the contract carried over the WebSocket.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import WebSocket from 'ws';
import { INVOKE_CHANNELS, SEND_CHANNELS } from '../../../preload/contract.js';
import { EventHub, Router, type InvokeHandlers, type SendHandlers } from '../../../main/ipc/router.js';
import { authorize, authorizeSocket, cookieName, newToken, requestToken, tokensEqual } from '../../../main/web/auth.js';
import { WebServer } from '../../../main/web/webServer.js';

describe('web-mode access check (pure)', () => {
  const cfg = { token: 'secret-token', port: 4000 };
  const host = { host: '127.0.0.1:4000' };

  it('accepts the token in the URL or in our cookie', () => {
    expect(authorize({ url: '/?token=secret-token', headers: host }, cfg)).toEqual({ ok: true, via: 'query' });
    expect(authorize({ url: '/assets/a.js', headers: { ...host, cookie: `x=1; ${cookieName(4000)}=secret-token` } }, cfg)).toEqual({ ok: true, via: 'cookie' });
    expect(authorize({ url: '/', headers: { host: 'localhost:4000', cookie: `${cookieName(4000)}=secret-token` } }, cfg).ok).toBe(true);
  });

  it('refuses a missing or wrong token with 403', () => {
    expect(authorize({ url: '/', headers: host }, cfg)).toMatchObject({ ok: false, status: 403, reason: 'missing token' });
    expect(authorize({ url: '/?token=nope', headers: host }, cfg)).toMatchObject({ ok: false, status: 403, reason: 'wrong token' });
    expect(authorize({ url: '/?token=secret-tokeN', headers: host }, cfg)).toMatchObject({ ok: false, status: 403 });
    expect(authorize({ url: '/', headers: { ...host, cookie: `${cookieName(4001)}=secret-token` } }, cfg)).toMatchObject({ ok: false, status: 403 });
  });

  it('refuses another Host (DNS rebinding) and, for sockets, another Origin', () => {
    expect(authorize({ url: '/?token=secret-token', headers: { host: 'evil.example:4000' } }, cfg)).toMatchObject({ ok: false, reason: 'wrong Host header' });
    expect(authorize({ url: '/?token=secret-token', headers: {} }, cfg)).toMatchObject({ ok: false });
    const sock = { url: '/ws?token=secret-token', headers: { ...host, origin: 'http://127.0.0.1:4000' } };
    expect(authorizeSocket(sock, cfg).ok).toBe(true);
    expect(authorizeSocket({ ...sock, headers: { ...host, origin: 'https://evil.example' } }, cfg)).toMatchObject({ ok: false, reason: 'wrong Origin' });
    expect(authorizeSocket({ ...sock, headers: host }, cfg)).toMatchObject({ ok: false });
  });

  it('makes long random tokens and compares them in constant time', () => {
    const a = newToken();
    expect(a).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(newToken()).not.toBe(a);
    expect(tokensEqual(a, a)).toBe(true);
    expect(tokensEqual(a, `${a}x`)).toBe(false);
    expect(requestToken({ url: '/%%%', headers: {} }, 1)).toBeUndefined();
  });
});

describe('the web server', () => {
  let server: WebServer;
  let root: string;
  const events = new EventHub();
  const invokes = Object.fromEntries(Object.keys(INVOKE_CHANNELS).map((k) => [k, vi.fn(async () => `answer of ${k}`)])) as unknown as InvokeHandlers;
  const sends = Object.fromEntries(Object.keys(SEND_CHANNELS).map((k) => [k, vi.fn()])) as unknown as SendHandlers & Record<string, ReturnType<typeof vi.fn>>;

  beforeAll(async () => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'me-web-'));
    fs.writeFileSync(path.join(root, 'index.html'), '<!doctype html><title>t</title>');
    fs.mkdirSync(path.join(root, 'assets'));
    fs.writeFileSync(path.join(root, 'assets', 'a.js'), 'export {}');
    server = await WebServer.start({ root, router: new Router(invokes, sends), events });
  });
  afterAll(async () => {
    await server.close();
    fs.rmSync(root, { recursive: true, force: true });
  });

  const base = () => `http://127.0.0.1:${server.port}`;

  it('listens on loopback only and prints a URL with the token', () => {
    expect(server.url).toBe(`http://127.0.0.1:${server.port}/?token=${server.token}`);
  });

  it('answers 403 to a wrong or missing token, on every path', async () => {
    for (const p of ['/', '/index.html', '/assets/a.js', '/?token=', '/?token=wrong', '/nothing-here']) {
      const r = await fetch(base() + p);
      expect(r.status, p).toBe(403);
      expect(await r.text()).toMatch(/Forbidden/);
    }
  });

  it('serves the page with the token, with its CSP, and then assets by cookie', async () => {
    const r = await fetch(server.url);
    expect(r.status).toBe(200);
    expect(r.headers.get('content-security-policy')).toMatch(/script-src 'self'/);
    const cookie = r.headers.get('set-cookie')!;
    expect(cookie).toMatch(/HttpOnly/);
    expect(cookie).toMatch(/SameSite=Strict/);
    const a = await fetch(`${base()}/assets/a.js`, { headers: { cookie: cookie.split(';')[0] } });
    expect(a.status).toBe(200);
    expect(a.headers.get('content-type')).toMatch(/javascript/);
    expect((await fetch(`${base()}/../../etc/passwd?token=${server.token}`)).status).toBe(404);
    expect((await fetch(server.url, { method: 'POST' })).status).toBe(405);
  });

  function open(url: string, origin?: string): Promise<WebSocket> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, origin === undefined ? {} : { origin });
      ws.once('open', () => resolve(ws));
      ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
      ws.once('error', reject);
    });
  }

  it('refuses a WebSocket without the token or from another origin with 403', async () => {
    const ws = `ws://127.0.0.1:${server.port}/ws`;
    await expect(open(ws, base())).rejects.toThrow('HTTP 403');
    await expect(open(`${ws}?token=wrong`, base())).rejects.toThrow('HTTP 403');
    await expect(open(`${ws}?token=${server.token}`, 'https://evil.example')).rejects.toThrow('HTTP 403');
    await expect(open(`${ws}?token=${server.token}`)).rejects.toThrow('HTTP 403');
  });

  it('carries requests, terminal messages and events over the WebSocket', async () => {
    const ws = await open(`ws://127.0.0.1:${server.port}/ws?token=${server.token}`, base());
    const messages: { t: string; id?: number; reply?: unknown; channel?: string; payload?: unknown }[] = [];
    ws.on('message', (m) => messages.push(JSON.parse(String(m))));
    ws.send(JSON.stringify({ t: 'invoke', id: 1, channel: INVOKE_CHANNELS.listEngines, payload: null }));
    ws.send(JSON.stringify({ t: 'invoke', id: 2, channel: INVOKE_CHANNELS.pull, payload: { name: '1bad', targets: [] } }));
    ws.send(JSON.stringify({ t: 'send', channel: SEND_CHANNELS.ptyWrite, payload: { data: 'hi' } }));
    await vi.waitFor(() => expect(messages.filter((m) => m.t === 'reply')).toHaveLength(2));
    expect(messages.find((m) => m.id === 1)?.reply).toEqual({ ok: true, value: 'answer of listEngines' });
    expect(messages.find((m) => m.id === 2)?.reply).toMatchObject({ ok: false, error: { name: 'PayloadError' } });
    expect(sends.ptyWrite).toHaveBeenCalledWith({ data: 'hi' });
    events.emit('onPtyData', { data: 'out' });
    await vi.waitFor(() => expect(messages.some((m) => m.t === 'event')).toBe(true));
    expect(messages.find((m) => m.t === 'event')).toEqual({ t: 'event', channel: 'me:pty:data', payload: { data: 'out' } });
    ws.close();
  });
});
