/**
 * Web mode's access check, as pure functions: a random token (in the URL the app prints,
 * then in an HttpOnly cookie) on every request, the Host header naming our loopback address
 * (no DNS rebinding), and for WebSockets an Origin of our own page. Anything else: 403.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';

export function newToken(): string {
  return randomBytes(32).toString('base64url');
}

export function tokensEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

export interface AuthConfig {
  token: string;
  port: number;
}

export interface RequestLike {
  url?: string;
  headers: Record<string, string | string[] | undefined>;
}

export type AuthResult = { ok: true; via: 'query' | 'cookie' } | { ok: false; status: 403; reason: string };

export function cookieName(port: number): string {
  return `multiengine_token_${port}`;
}

function header(req: RequestLike, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function allowedHosts(port: number): string[] {
  return [`127.0.0.1:${port}`, `localhost:${port}`];
}

export function readCookie(req: RequestLike, name: string): string | undefined {
  const raw = header(req, 'cookie');
  if (!raw) return undefined;
  for (const part of raw.split(';')) {
    const i = part.indexOf('=');
    if (i > 0 && part.slice(0, i).trim() === name) return part.slice(i + 1).trim();
  }
  return undefined;
}

/** The token of a request: `?token=` in the URL, else our cookie. */
export function requestToken(req: RequestLike, port: number): { token: string; via: 'query' | 'cookie' } | undefined {
  let q: string | null = null;
  try {
    q = new URL(req.url ?? '/', 'http://x').searchParams.get('token');
  } catch {
    /* a malformed URL carries no token */
  }
  if (q) return { token: q, via: 'query' };
  const c = readCookie(req, cookieName(port));
  return c ? { token: c, via: 'cookie' } : undefined;
}

/** An HTTP request (page or asset). */
export function authorize(req: RequestLike, cfg: AuthConfig): AuthResult {
  const host = header(req, 'host');
  if (!host || !allowedHosts(cfg.port).includes(host.toLowerCase())) return { ok: false, status: 403, reason: 'wrong Host header' };
  const t = requestToken(req, cfg.port);
  if (!t) return { ok: false, status: 403, reason: 'missing token' };
  if (!tokensEqual(t.token, cfg.token)) return { ok: false, status: 403, reason: 'wrong token' };
  return { ok: true, via: t.via };
}

/** A WebSocket upgrade: as authorize, and the Origin must be our page. */
export function authorizeSocket(req: RequestLike, cfg: AuthConfig): AuthResult {
  const origin = header(req, 'origin');
  if (!origin || !allowedHosts(cfg.port).map((h) => `http://${h}`).includes(origin.toLowerCase())) return { ok: false, status: 403, reason: 'wrong Origin' };
  return authorize(req, cfg);
}
