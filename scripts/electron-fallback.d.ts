/**
 * The part of Electron's API that main/electron/ and preload/ use, for typechecking them where
 * npm dropped the electron package (and its types) because its binary could not be downloaded.
 * main/typecheck.mjs maps `electron` to this file only then; with the package installed, the
 * real electron.d.ts is used. Signatures are narrowed copies of electron.d.ts 41.7.1: add to it
 * when main/electron/ uses more of Electron.
 */
import type { EventEmitter } from 'node:events';

declare global {
  namespace NodeJS {
    interface Process {
      /** Where a packaged app's extra resources live. */
      readonly resourcesPath: string;
    }
  }
}

export interface Event {
  preventDefault(): void;
}
export interface WebFrameMain {
  readonly url: string;
  readonly parent: WebFrameMain | null;
}
export interface WebContents extends EventEmitter {
  readonly id: number;
  send(channel: string, ...args: unknown[]): void;
  on(event: 'will-navigate' | 'will-redirect', listener: (event: Event, url: string) => void): this;
  on(event: 'will-attach-webview', listener: (event: Event, webPreferences: unknown, params: unknown) => void): this;
  setWindowOpenHandler(handler: (details: { url: string; frameName: string; features: string }) => { action: 'deny' } | { action: 'allow' }): void;
}
export interface IpcMainEvent {
  readonly sender: WebContents;
  readonly senderFrame: WebFrameMain | null;
}
export interface IpcMainInvokeEvent {
  readonly sender: WebContents;
  readonly senderFrame: WebFrameMain | null;
}
export interface WebPreferences {
  preload?: string;
  contextIsolation?: boolean;
  sandbox?: boolean;
  nodeIntegration?: boolean;
  nodeIntegrationInWorker?: boolean;
  nodeIntegrationInSubFrames?: boolean;
  webviewTag?: boolean;
  webSecurity?: boolean;
  allowRunningInsecureContent?: boolean;
  experimentalFeatures?: boolean;
  navigateOnDragDrop?: boolean;
  safeDialogs?: boolean;
  spellcheck?: boolean;
  disableBlinkFeatures?: string;
}
export interface BrowserWindowConstructorOptions {
  width?: number;
  height?: number;
  minWidth?: number;
  minHeight?: number;
  show?: boolean;
  title?: string;
  backgroundColor?: string;
  webPreferences?: WebPreferences;
}
export declare class BrowserWindow extends EventEmitter {
  constructor(options?: BrowserWindowConstructorOptions);
  readonly webContents: WebContents;
  loadURL(url: string): Promise<void>;
  show(): void;
  focus(): void;
  restore(): void;
  isMinimized(): boolean;
  isDestroyed(): boolean;
}
export interface App extends EventEmitter {
  readonly isPackaged: boolean;
  enableSandbox(): void;
  requestSingleInstanceLock(): boolean;
  whenReady(): Promise<void>;
  quit(): void;
  exit(exitCode?: number): void;
  on(event: 'web-contents-created', listener: (event: Event, webContents: WebContents) => void): this;
  on(event: 'before-quit', listener: (event: Event) => void): this;
  on(event: 'second-instance' | 'window-all-closed', listener: () => void): this;
}
export interface Session {
  setPermissionRequestHandler(handler: ((webContents: WebContents, permission: string, callback: (granted: boolean) => void) => void) | null): void;
  setPermissionCheckHandler(handler: ((webContents: WebContents | null, permission: string) => boolean) | null): void;
}
export interface IpcMain {
  handle(channel: string, listener: (event: IpcMainInvokeEvent, ...args: unknown[]) => unknown): void;
  on(channel: string, listener: (event: IpcMainEvent, ...args: unknown[]) => void): this;
}
export interface IpcRenderer {
  invoke(channel: string, ...args: unknown[]): Promise<unknown>;
  send(channel: string, ...args: unknown[]): void;
  on(channel: string, listener: (event: unknown, ...args: unknown[]) => void): this;
  removeListener(channel: string, listener: (event: unknown, ...args: unknown[]) => void): this;
}
export interface CustomScheme {
  scheme: string;
  privileges?: { standard?: boolean; secure?: boolean; supportFetchAPI?: boolean; corsEnabled?: boolean; stream?: boolean };
}
export declare const app: App;
export declare const ipcMain: IpcMain;
export declare const ipcRenderer: IpcRenderer;
export declare const contextBridge: { exposeInMainWorld(apiKey: string, api: unknown): void };
export declare const clipboard: { writeText(text: string): void };
export declare const shell: { openExternal(url: string): Promise<void> };
export declare const session: { readonly defaultSession: Session };
export declare const protocol: {
  registerSchemesAsPrivileged(customSchemes: CustomScheme[]): void;
  handle(scheme: string, handler: (request: Request) => Response | Promise<Response>): void;
};
