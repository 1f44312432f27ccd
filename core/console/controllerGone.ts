/**
 * What the console does when its controller goes away, told by the client's connection state.
 * Shut down on request (the connection closed and the controller removed its file: core's
 * wasShutDown, as the app decides): one line, and the console ends with code 0. Lost (killed,
 * crashed): the client waits for it to come back for its reconnectMs, so the console says so and
 * stays usable (Ctrl-D quits); back, it says so; not back in time, the console ends with code 1.
 */
import type { Client } from '../client/client.js';
import { wasShutDown } from '../client/shutDown.js';
import type { Disposable } from '../events/emitter.js';

export interface GoneHandlers {
  /** A line for the user; the console goes on. */
  note(line: string): void;
  /** The console must end: `line` says why, `code` is its exit code. */
  end(line: string, code: number): void;
}

function seconds(ms: number): string {
  return `${Number((ms / 1000).toFixed(1))} s`;
}

export function watchController(rc: Client, profile: string, on: GoneHandlers): Disposable {
  const who = (pid: number) => `the controller (profile ${profile}${pid ? `, pid ${pid}` : ''})`;
  // The controller we lost: its pid is the one the user knew, whatever a restart brings.
  let lostPid: number | undefined;
  return rc.onDidChangeConnection((state) => {
    if (state === 'reconnecting') {
      lostPid = rc.controllerPid;
      on.note(`lost ${who(lostPid)}: waiting up to ${seconds(rc.reconnectMs)} for it to come back; Ctrl-D quits`);
    } else if (state === 'connected' && lostPid !== undefined) {
      lostPid = undefined;
      // Requests in flight when it went failed (they may have run), and are not sent again.
      on.note(`${who(rc.controllerPid)} is back; work that was running when it went failed and was not sent again`);
    } else if (state === 'closed') {
      if (rc.closedByUser) return; // rc.close() typed at the prompt: the user's own doing
      if (wasShutDown(rc)) on.end(`${who(rc.controllerPid)} was shut down on request; the console ends`, 0);
      else if (lostPid !== undefined) on.end(`lost ${who(lostPid)}: it did not come back within ${seconds(rc.reconnectMs)}; the console ends`, 1);
      else on.end(`lost ${who(rc.controllerPid)}: its connection closed and the client does not reconnect; the console ends`, 1);
    }
  });
}
