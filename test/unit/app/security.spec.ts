// Security policy functions and IPC sender validation.
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  allowWebview,
  APP_URL,
  contentSecurityPolicy,
  isNavigationAllowed,
  isSafeExternalUrl,
  isTrustedSender,
  permissionDecision,
  resolveAsset,
  securityHeaders,
  secureWebPreferences,
  windowOpenDecision,
} from '../../../main/security.js';

describe('content security policy', () => {
  const csp = contentSecurityPolicy();
  const directives = Object.fromEntries(csp.split('; ').map((d) => [d.split(' ')[0], d.split(' ').slice(1)]));

  it('allows scripts from the app only: no inline script, no eval', () => {
    expect(directives['script-src']).toEqual(["'self'"]);
    expect(csp).not.toMatch(/unsafe-eval/);
    expect(directives['default-src']).toEqual(["'none'"]);
  });

  it("allows inline styles (xterm sets them) and nothing else that is loose", () => {
    expect(directives['style-src']).toEqual(["'self'", "'unsafe-inline'"]);
    expect(directives['object-src']).toEqual(["'none'"]);
    expect(directives['frame-ancestors']).toEqual(["'none'"]);
    expect(directives['base-uri']).toEqual(["'none'"]);
    expect(directives['form-action']).toEqual(["'none'"]);
  });

  it('adds the web-mode socket to connect-src', () => {
    expect(contentSecurityPolicy({ connectSrc: ['ws://127.0.0.1:5000'] })).toContain("connect-src 'self' ws://127.0.0.1:5000");
  });

  it('is sent with hardening headers', () => {
    const h = securityHeaders(csp);
    expect(h['Content-Security-Policy']).toBe(csp);
    expect(h['X-Content-Type-Options']).toBe('nosniff');
    expect(h['X-Frame-Options']).toBe('DENY');
  });
});

describe('window policy', () => {
  it('isolates, sandboxes and keeps Node out of the renderer', () => {
    const p = secureWebPreferences('/x/preload.cjs');
    expect(p).toMatchObject({ contextIsolation: true, sandbox: true, nodeIntegration: false, nodeIntegrationInWorker: false, nodeIntegrationInSubFrames: false, webviewTag: false, webSecurity: true, allowRunningInsecureContent: false, preload: '/x/preload.cjs' });
  });

  it('allows no navigation at all', () => {
    for (const url of [APP_URL, 'app://multiengine/other.html', 'https://example.com/', 'file:///etc/passwd', 'javascript:alert(1)']) expect(isNavigationAllowed(url)).toBe(false);
  });

  it('opens no new window; only plain http(s) links go to the system browser', () => {
    expect(windowOpenDecision('https://example.com/docs')).toEqual({ action: 'deny', openExternally: true });
    expect(windowOpenDecision('http://localhost:8888/')).toEqual({ action: 'deny', openExternally: true });
    for (const bad of ['file:///etc/passwd', 'javascript:alert(1)', 'app://multiengine/index.html', 'smb://host/share', 'https://user:pw@example.com/', 'not a url', '']) {
      expect(windowOpenDecision(bad)).toEqual({ action: 'deny', openExternally: false });
      expect(isSafeExternalUrl(bad)).toBe(false);
    }
  });

  it('denies every permission and every webview', () => {
    for (const p of ['media', 'geolocation', 'notifications', 'clipboard-read', 'clipboard-sanitized-write', 'openExternal', 'fullscreen', 'unknown']) expect(permissionDecision(p)).toBe(false);
    expect(allowWebview()).toBe(false);
  });
});

describe('IPC sender validation', () => {
  const trusted = new Set([7]);
  const main = { url: APP_URL, parent: null, isMainFrame: true };

  it('accepts the top frame of our window showing our page', () => {
    expect(isTrustedSender({ frame: main, webContentsId: 7 }, trusted)).toBe(true);
    expect(isTrustedSender({ frame: { ...main, url: 'app://multiengine/' }, webContentsId: 7 }, trusted)).toBe(true);
  });

  it('refuses other windows, subframes, other origins and missing frames', () => {
    expect(isTrustedSender({ frame: main, webContentsId: 8 }, trusted)).toBe(false);
    expect(isTrustedSender({ frame: { ...main, parent: {} }, webContentsId: 7 }, trusted)).toBe(false);
    expect(isTrustedSender({ frame: { ...main, isMainFrame: false }, webContentsId: 7 }, trusted)).toBe(false);
    expect(isTrustedSender({ frame: null, webContentsId: 7 }, trusted)).toBe(false);
    expect(isTrustedSender({ frame: undefined, webContentsId: 7 }, trusted)).toBe(false);
    for (const url of ['https://evil.example/', 'file:///work/dist/renderer/index.html', 'app://other/index.html', 'app://multiengine/evil.html', 'about:blank', 'devtools://devtools/', '']) {
      expect(isTrustedSender({ frame: { ...main, url }, webContentsId: 7 }, trusted), url).toBe(false);
    }
  });
});

describe('serving the renderer', () => {
  const root = path.resolve('/srv/app');
  it('maps paths inside the root, / to index.html', () => {
    expect(resolveAsset(root, '/')).toBe(path.join(root, 'index.html'));
    expect(resolveAsset(root, '/assets/index-1.js')).toBe(path.join(root, 'assets', 'index-1.js'));
    expect(resolveAsset(root, '/assets/a%20b.css?x=1')).toBe(path.join(root, 'assets', 'a b.css'));
  });
  it('never leaves the root', () => {
    for (const p of ['/../secret', '/assets/../../etc/passwd', '/%2e%2e/%2e%2e/etc/passwd', '/..%2f..%2fetc%2fpasswd']) {
      const r = resolveAsset(root, p);
      expect(r === null || r.startsWith(root + path.sep), `${p} -> ${r}`).toBe(true);
    }
    for (const p of ['/a\\..\\..\\b', '/x%00y', '/%E0%A4%A']) expect(resolveAsset(root, p), p).toBe(null);
  });
});
