/** What `npm start` (and `multiengine app`) tell the user when they start without a window and when they stop. */
import type { ClusterSnapshot } from '../preload/contract.js';
import type { ElectronLookup } from './electronBinary.js';

/** Why there is no desktop window, and how to get one. */
export function noWindowMessage(lookup: Extract<ElectronLookup, { ok: false }>): string {
  return [`No desktop window: ${lookup.reason}.`, 'For the desktop window:', ...lookup.remedy.map((r) => `  - ${r}`)].join('\n');
}

/** Said before web mode prints its URL. */
export const WEB_MODE_HINT = 'The app runs in web mode: open the URL below in your browser. Ctrl-C stops the cluster.';

/** The last line on exit: what was stopped, and what was left running. */
export function goodbyeMessage(snap: Pick<ClusterSnapshot, 'status' | 'mode' | 'profile' | 'controllerPid'>, engines: number, what = 'the web server'): string {
  const cluster = `cluster "${snap.profile}"`;
  // Stopped, or shut down by a client: an attached cluster does not "keep running" then.
  if (snap.status === 'stopped') return `Stopped ${what} (no cluster was running). Goodbye.`;
  if (snap.mode === 'attached') return `Stopped ${what}; ${cluster} keeps running (the app attached to it; multiengine stop --profile ${snap.profile} stops it). Goodbye.`;
  if (snap.controllerPid === null) return `Stopped ${what} (no cluster was running). Goodbye.`;
  return `Stopped ${what} and ${cluster}: its controller (pid ${snap.controllerPid}) and ${engines} engine${engines === 1 ? '' : 's'}. Goodbye.`;
}
