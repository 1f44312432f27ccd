/**
 * The desktop app's main process: thin glue from Electron to the shared services. It serves
 * the renderer from the privileged app:// scheme with a strict CSP, opens one sandboxed,
 * context-isolated window, validates every IPC sender and payload, denies navigation, new
 * windows, webviews and every permission, and stops everything it started on quit.
 */
import fs from 'node:fs';
import path from 'node:path';
import { app, BrowserWindow, clipboard, ipcMain, protocol, session, shell, type IpcMainEvent, type IpcMainInvokeEvent } from 'electron';
import { packageRoot } from '../../core/util/entry.js';
import { INVOKE_CHANNELS, SEND_CHANNELS, type Reply } from '../../preload/contract.js';
import { createAppServices, defaultSettingsFile, type AppServices } from '../app.js';
import {
  allowWebview,
  APP_HOST,
  APP_SCHEME,
  APP_URL,
  contentSecurityPolicy,
  contentType,
  isNavigationAllowed,
  isSafeExternalUrl,
  isTrustedSender,
  permissionDecision,
  resolveAsset,
  securityHeaders,
  secureWebPreferences,
  windowOpenDecision,
} from '../security.js';
import { parseWebArgs, pickAppArgs } from '../webMain.js';
import { ElectronSpawner } from './spawner.js';

const rendererRoot = path.join(packageRoot, 'dist', 'renderer');
const preloadPath = path.join(packageRoot, 'dist', 'preload', 'preload.cjs');
const CSP = contentSecurityPolicy();

protocol.registerSchemesAsPrivileged([{ scheme: APP_SCHEME, privileges: { standard: true, secure: true, supportFetchAPI: true } }]);
app.enableSandbox();

const trustedIds = new Set<number>();
const windows = new Set<BrowserWindow>();
let services: AppServices | null = null;
let quitting = false;

function trusted(event: IpcMainEvent | IpcMainInvokeEvent): boolean {
  return isTrustedSender({ frame: event.senderFrame, webContentsId: event.sender.id }, trustedIds);
}

function serveRenderer(): void {
  protocol.handle(APP_SCHEME, async (request) => {
    const url = new URL(request.url);
    const file = url.host === APP_HOST ? resolveAsset(rendererRoot, url.pathname) : null;
    if (!file) return new Response('not found', { status: 404 });
    try {
      const body = await fs.promises.readFile(file);
      return new Response(body, { status: 200, headers: { 'Content-Type': contentType(file), ...securityHeaders(CSP) } });
    } catch {
      return new Response('not found', { status: 404 });
    }
  });
}

function wireIpc(s: AppServices): void {
  const refused: Reply = { ok: false, error: { name: 'SecurityError', message: 'IPC from an untrusted sender was refused' } };
  for (const channel of Object.values(INVOKE_CHANNELS)) {
    ipcMain.handle(channel, (event, payload: unknown) => (trusted(event) ? s.router.invoke(channel, payload) : refused));
  }
  for (const channel of Object.values(SEND_CHANNELS)) {
    ipcMain.on(channel, (event, payload: unknown) => {
      if (trusted(event)) s.router.send(channel, payload);
    });
  }
  s.events.listen((channel, payload) => {
    for (const w of windows) if (!w.isDestroyed()) w.webContents.send(channel, payload);
  });
}

function createWindow(): BrowserWindow {
  const win = new BrowserWindow({
    width: 1440,
    height: 920,
    minWidth: 900,
    minHeight: 600,
    show: false,
    title: 'Multiengine',
    backgroundColor: '#16181d',
    // The policy's key switches are repeated literally so static scanners (electronegativity) see them.
    webPreferences: { ...secureWebPreferences(preloadPath), contextIsolation: true, sandbox: true, nodeIntegration: false, disableBlinkFeatures: 'Auxclick' },
  });
  const id = win.webContents.id;
  trustedIds.add(id);
  windows.add(win);
  win.once('ready-to-show', () => win.show());
  win.on('closed', () => {
    trustedIds.delete(id);
    windows.delete(win);
  });
  void win.loadURL(APP_URL);
  return win;
}

app.on('web-contents-created', (_event, contents) => {
  contents.on('will-navigate', (event, url) => {
    if (!isNavigationAllowed(url)) event.preventDefault();
  });
  contents.on('will-redirect', (event, url) => {
    if (!isNavigationAllowed(url)) event.preventDefault();
  });
  contents.on('will-attach-webview', (event) => {
    if (!allowWebview()) event.preventDefault();
  });
  contents.setWindowOpenHandler(({ url }) => {
    if (windowOpenDecision(url).openExternally) void shell.openExternal(url);
    return { action: 'deny' };
  });
});

async function start(): Promise<void> {
  if (!app.requestSingleInstanceLock()) {
    app.quit();
    return;
  }
  await app.whenReady();
  const ses = session.defaultSession;
  ses.setPermissionRequestHandler((_wc, permission, callback) => callback(permissionDecision(permission)));
  ses.setPermissionCheckHandler((_wc, permission) => permissionDecision(permission));
  serveRenderer();

  let args;
  try {
    // Chromium's and Playwright's own switches may be there too: unknown ones are ignored.
    args = parseWebArgs(pickAppArgs(process.argv.slice(1)));
  } catch (e) {
    console.error(`multiengine: ${(e as Error).message}`);
    args = parseWebArgs([]);
  }
  const clusterSpawner = new ElectronSpawner({ pythonEngine: app.isPackaged ? path.join(process.resourcesPath, 'engines', 'python', 'multiengine_engine.py') : undefined });
  services = createAppServices({
    web: false,
    settingsFile: defaultSettingsFile(args.dir),
    overrides: args.overrides,
    dir: args.dir,
    heartbeatMs: args.heartbeatMs,
    // The controller and engines run as plain node (and so do its restarts). Packaged, the
    // Python engine is an extra resource outside app.asar.
    clusterSpawner,
    copyText: (text) => clipboard.writeText(text),
    openExternal: async (url) => {
      if (!isSafeExternalUrl(url)) throw new Error('only http(s) links are opened');
      await shell.openExternal(url);
    },
    log: process.env.MULTIENGINE_DEBUG ? (line) => console.error(`[app] ${line}`) : undefined,
  });
  wireIpc(services);
  app.on('second-instance', () => {
    const w = [...windows][0];
    if (w) {
      if (w.isMinimized()) w.restore();
      w.focus();
    }
  });
  createWindow();
  void services.start();
}

app.on('window-all-closed', () => app.quit());
app.on('before-quit', (event) => {
  if (quitting || !services) return;
  event.preventDefault();
  quitting = true;
  void services.dispose().finally(() => app.exit(0));
});
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => app.quit());

start().catch((e: unknown) => {
  console.error(`multiengine: ${(e as Error)?.stack ?? String(e)}`);
  app.exit(1);
});
