/**
 * The preload script of the app window (sandboxed, context-isolated). Bundled as CommonJS
 * into dist/preload/preload.cjs, since a sandboxed preload cannot be an ES module.
 */
import { contextBridge, ipcRenderer } from 'electron';
import { exposeApi } from './expose.js';

exposeApi(contextBridge, ipcRenderer);
