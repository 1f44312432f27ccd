/**
 * Web mode's server: the renderer's files over HTTP on 127.0.0.1 and the contract over a
 * WebSocket at /ws, to the same router and services as the desktop app. Every request needs
 * the token (403 otherwise); nothing listens beyond loopback.
 */
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import type { EventHub, Router } from '../ipc/router.js';
import { contentSecurityPolicy, contentType, resolveAsset, securityHeaders } from '../security.js';
import { authorize, authorizeSocket, cookieName, newToken } from './auth.js';

export const LOOPBACK = '127.0.0.1';
const MAX_WS_MESSAGE = 16 * 1024 * 1024;

export interface WebServerOptions {
  /** The built renderer (index.html and assets). */
  root: string;
  router: Router;
  events: EventHub;
  /** 0 (default): a free port. */
  port?: number;
  token?: string;
  log?: (line: string) => void;
}

/** A message from the browser. */
type Incoming = { t: 'invoke'; id: number; channel: string; payload: unknown } | { t: 'send'; channel: string; payload: unknown };

function forbidden(res: http.ServerResponse, reason: string): void {
  res.writeHead(403, { 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-store' });
  res.end(`403 Forbidden: ${reason}. Open the URL with the token that multiengine printed.\n`);
}

export class WebServer {
  private readonly sockets = new Set<WebSocket>();
  private csp = '';

  private constructor(
    private readonly server: http.Server,
    private readonly wss: WebSocketServer,
    readonly token: string,
    private readonly opts: WebServerOptions,
  ) {}

  static async start(opts: WebServerOptions): Promise<WebServer> {
    const token = opts.token ?? newToken();
    const server = http.createServer();
    const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_WS_MESSAGE, perMessageDeflate: false });
    const ws = new WebServer(server, wss, token, opts);
    server.on('request', (req, res) => ws.onRequest(req, res));
    server.on('upgrade', (req, socket, head) => ws.onUpgrade(req, socket as import('node:net').Socket, head));
    server.on('clientError', (_e, socket) => socket.destroy());
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: LOOPBACK, port: opts.port ?? 0, exclusive: true }, () => {
        server.off('error', reject);
        resolve();
      });
    });
    ws.csp = contentSecurityPolicy({ connectSrc: [`ws://${LOOPBACK}:${ws.port}`, `ws://localhost:${ws.port}`] });
    return ws;
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  /** The address to open: with the token. */
  get url(): string {
    return `http://${LOOPBACK}:${this.port}/?token=${this.token}`;
  }

  private onRequest(req: http.IncomingMessage, res: http.ServerResponse): void {
    const auth = authorize(req, { token: this.token, port: this.port });
    if (!auth.ok) {
      this.opts.log?.(`403 ${req.method} ${(req.url ?? '').split('?')[0]}: ${auth.reason}`);
      forbidden(res, auth.reason);
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { Allow: 'GET, HEAD' });
      res.end();
      return;
    }
    const file = resolveAsset(this.opts.root, new URL(req.url ?? '/', 'http://x').pathname);
    let body: Buffer;
    try {
      if (!file) throw new Error('outside the root');
      body = fs.readFileSync(file);
    } catch {
      res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8', ...securityHeaders(this.csp) });
      res.end('404 Not Found\n');
      return;
    }
    const headers: Record<string, string> = { 'Content-Type': contentType(file), 'Content-Length': String(body.length), ...securityHeaders(this.csp) };
    if (auth.via === 'query') headers['Set-Cookie'] = `${cookieName(this.port)}=${this.token}; HttpOnly; SameSite=Strict; Path=/`;
    res.writeHead(200, headers);
    res.end(req.method === 'HEAD' ? undefined : body);
  }

  private onUpgrade(req: http.IncomingMessage, socket: import('node:net').Socket, head: Buffer): void {
    const auth = authorizeSocket(req, { token: this.token, port: this.port });
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    if (!auth.ok || path !== '/ws') {
      this.opts.log?.(`403 websocket ${path}: ${auth.ok ? 'wrong path' : auth.reason}`);
      socket.end('HTTP/1.1 403 Forbidden\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: 10\r\n\r\nForbidden\n');
      socket.destroy();
      return;
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => this.onSocket(ws));
  }

  private onSocket(ws: WebSocket): void {
    this.sockets.add(ws);
    const off = this.opts.events.listen((channel, payload) => {
      if (ws.readyState === ws.OPEN) ws.send(JSON.stringify({ t: 'event', channel, payload }));
    });
    ws.on('message', (raw, isBinary) => {
      if (isBinary) return ws.close(1003, 'text only');
      let msg: Incoming;
      try {
        msg = JSON.parse(String(raw)) as Incoming;
      } catch {
        return ws.close(1007, 'not JSON');
      }
      if (msg?.t === 'invoke' && Number.isSafeInteger(msg.id)) {
        void this.opts.router.invoke(msg.channel, msg.payload).then((reply) => {
          if (ws.readyState === ws.OPEN) ws.send(JSON.stringify({ t: 'reply', id: msg.id, reply }));
        });
      } else if (msg?.t === 'send') {
        this.opts.router.send(msg.channel, msg.payload);
      } else {
        ws.close(1008, 'unknown message');
      }
    });
    ws.on('close', () => {
      off();
      this.sockets.delete(ws);
    });
    ws.on('error', () => ws.terminate());
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.terminate();
    this.wss.close();
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }
}
