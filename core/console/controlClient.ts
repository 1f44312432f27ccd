/**
 * The console's end of the app's side channel (see control.ts). Each message is checked
 * once here: a bad one is reported in one line and ignored, and nothing on this channel can
 * end the console. Without MULTIENGINE_CONSOLE_CONTROL (a console in a plain terminal) there
 * is no channel at all.
 */
import net from 'node:net';
import { ControlMessageError, encodeControl, lineSplitter, parseTargetsMessage, type ControlTargets } from './control.js';

export interface ControlHandlers {
  /** New %px targets from the app; they are in force when this returns. */
  targets(t: ControlTargets): void;
  /** A line for the user (stderr): a message that was ignored, a channel that failed. */
  warn(line: string): void;
}

export interface ControlChannel {
  close(): void;
}

/**
 * Connects to the app's socket at `socketPath`. Resolves once the app's first message has
 * been applied (the app sends the current targets on connect), so the first prompt already
 * shows them; or after `firstWithinMs`, or when the socket fails, with a warning.
 */
export function connectControl(socketPath: string, on: ControlHandlers, firstWithinMs = 2000): Promise<ControlChannel> {
  return new Promise((resolve) => {
    const sock = net.createConnection(socketPath);
    const channel: ControlChannel = { close: () => sock.destroy() };
    let ready = false;
    const done = () => {
      if (ready) return;
      ready = true;
      clearTimeout(timer);
      resolve(channel);
    };
    const timer = setTimeout(done, firstWithinMs);
    sock.setEncoding('utf8');
    sock.on(
      'data',
      lineSplitter((line) => {
        try {
          const msg = parseTargetsMessage(line);
          on.targets(msg.targets);
          if (msg.seq !== undefined) sock.write(encodeControl({ type: 'applied', seq: msg.seq }));
        } catch (e) {
          const why = e instanceof ControlMessageError ? e.message : `it could not be applied: ${(e as Error).message}`;
          on.warn(`multiengine console: ignored a message from the app: ${why}`);
        }
        done();
      }),
    );
    sock.on('error', (e) => {
      on.warn(`multiengine console: the app's control channel (${socketPath}) failed: ${e.message}; selecting engines in the app will not set the %px targets`);
      done();
    });
    sock.on('close', done);
    // The channel must never keep the console alive.
    sock.unref();
  });
}
