/**
 * The app's security rules as pure functions, so unit tests cover each of them
 * (Electron's security checklist): a strict CSP, trusted senders only, no navigation, no new
 * windows, no webviews, every permission denied, and hardened webPreferences.
 */
import path from 'node:path';

/** The renderer is served from this privileged custom scheme in the desktop app. */
export const APP_SCHEME = 'app';
export const APP_HOST = 'multiengine';
export const APP_ORIGIN = `${APP_SCHEME}://${APP_HOST}`;
export const APP_URL = `${APP_ORIGIN}/index.html`;

/**
 * The Content-Security-Policy of the renderer. `script-src 'self'` only (no inline script,
 * no eval); xterm sets inline styles, hence `style-src 'unsafe-inline'`. `connectSrc` adds
 * the web-mode WebSocket origin.
 */
export function contentSecurityPolicy(opts: { connectSrc?: readonly string[] } = {}): string {
  const connect = ["'self'", ...(opts.connectSrc ?? [])].join(' ');
  return [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data:",
    "font-src 'self' data:",
    `connect-src ${connect}`,
    "worker-src 'none'",
    "object-src 'none'",
    "frame-src 'none'",
    "child-src 'none'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
}

/** Headers sent with every renderer response (app:// in the desktop app, HTTP in web mode). */
export function securityHeaders(csp: string): Record<string, string> {
  return {
    'Content-Security-Policy': csp,
    'X-Content-Type-Options': 'nosniff',
    'X-Frame-Options': 'DENY',
    'Referrer-Policy': 'no-referrer',
    'Cross-Origin-Opener-Policy': 'same-origin',
    'Cross-Origin-Resource-Policy': 'same-origin',
    'Cache-Control': 'no-store',
  };
}

/** The webPreferences of every window: isolated, sandboxed, no Node, no webviews. */
export function secureWebPreferences(preload: string) {
  return {
    preload,
    contextIsolation: true,
    sandbox: true,
    nodeIntegration: false,
    nodeIntegrationInWorker: false,
    nodeIntegrationInSubFrames: false,
    webviewTag: false,
    webSecurity: true,
    allowRunningInsecureContent: false,
    experimentalFeatures: false,
    navigateOnDragDrop: false,
    safeDialogs: true,
    spellcheck: false,
    // Middle-click would open links in new windows, around the window-open handler.
    disableBlinkFeatures: 'Auxclick',
  } as const;
}

function parse(url: unknown): URL | null {
  if (typeof url !== 'string' || url.length > 8192) return null;
  try {
    return new URL(url);
  } catch {
    return null;
  }
}

/** A frame as Electron describes the sender of an IPC message (WebFrameMain). */
export interface SenderFrame {
  url: string;
  /** Whether this frame is the top frame of its window. */
  isMainFrame?: boolean;
  parent?: unknown;
}

/**
 * IPC sender validation: only the top frame of one of our windows showing our own page may
 * talk to main. `trustedIds` are the webContents ids of our windows.
 */
export function isTrustedSender(sender: { frame: SenderFrame | null | undefined; webContentsId: number }, trustedIds: ReadonlySet<number>, origin = APP_ORIGIN): boolean {
  if (!trustedIds.has(sender.webContentsId)) return false;
  const frame = sender.frame;
  if (!frame) return false;
  if (frame.parent !== null && frame.parent !== undefined) return false;
  if (frame.isMainFrame === false) return false;
  const u = parse(frame.url);
  const o = parse(origin);
  // Compare scheme and host: Node's URL gives custom (non-special) schemes an opaque origin.
  return u !== null && o !== null && u.protocol === o.protocol && u.host === o.host && u.username === '' && u.port === o.port && (u.pathname === '/' || u.pathname === '/index.html');
}

/** No navigation at all: the app is one page. */
export function isNavigationAllowed(_target: string): boolean {
  return false;
}

/** Links the user may open in the system browser: plain http(s), no credentials in the URL. */
export function isSafeExternalUrl(url: unknown): boolean {
  const u = parse(url);
  return u !== null && (u.protocol === 'https:' || u.protocol === 'http:') && u.username === '' && u.password === '' && u.hostname !== '';
}

/** window.open / target=_blank: never a new window; safe http(s) links go to the system browser. */
export function windowOpenDecision(url: string): { action: 'deny'; openExternally: boolean } {
  return { action: 'deny', openExternally: isSafeExternalUrl(url) };
}

/** Every permission request (camera, notifications, clipboard-read, ...) is denied. */
export function permissionDecision(_permission: string): boolean {
  return false;
}

/** Webviews are never attached. */
export function allowWebview(): boolean {
  return false;
}

/**
 * Maps a request path of the renderer to a file under `root`, or null when it escapes the
 * root or is not a plain path. '/' is index.html.
 */
export function resolveAsset(root: string, urlPath: string): string | null {
  let p: string;
  try {
    p = decodeURIComponent(urlPath.split('?')[0].split('#')[0]);
  } catch {
    return null;
  }
  if (p.includes('\0') || p.includes('\\')) return null;
  if (p === '' || p === '/') p = '/index.html';
  const file = path.resolve(root, `.${path.posix.normalize(p)}`);
  const base = path.resolve(root);
  if (file !== base && !file.startsWith(base + path.sep)) return null;
  return file;
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.woff': 'font/woff',
  '.ttf': 'font/ttf',
  '.map': 'application/json',
};

export function contentType(file: string): string {
  return TYPES[path.extname(file).toLowerCase()] ?? 'application/octet-stream';
}
