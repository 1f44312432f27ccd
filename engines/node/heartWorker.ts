/**
 * The heart: a worker thread with its own connection to the controller, so heartbeats keep
 * going while the main thread is stuck in user code. It also receives `interrupt_request`
 * and turns it into SIGINT for this process, which the main thread's vm watchdog or SIGINT
 * listener handles (interrupt.ts). Kept tiny: it only imports the transport.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { createMessage } from '../../core/protocol/messages.js';
import { Signer } from '../../core/transport/codec.js';
import { Connection, connectTcp } from '../../core/transport/connection.js';

export interface HeartConfig {
  ip: string;
  port: number;
  key: string;
  uuid: string;
  session: string;
}
/** Sent by the main thread once registered. */
export interface HeartStart {
  id: number;
  heartbeatMs: number;
}
/** Sent to the main thread. */
export type HeartEvent = { event: 'connected' } | { event: 'closed'; reason: string };

const config = workerData as HeartConfig;
const port = parentPort!;

port.once('message', (start: HeartStart) => {
  connectTcp(config.ip, config.port).then(
    (socket) => {
      const conn = new Connection(socket, new Signer(config.key));
      const beat = (): void => conn.send(createMessage('heartbeat', { uuid: config.uuid, id: start.id }, { session: config.session }));
      conn.start({
        onMessage(msg) {
          if (msg.header.msg_type === 'interrupt_request') process.kill(process.pid, 'SIGINT');
        },
        onClose() {
          clearInterval(timer);
          port.postMessage({ event: 'closed', reason: 'heart connection closed' } satisfies HeartEvent);
        },
      });
      beat();
      const timer = setInterval(beat, start.heartbeatMs);
      port.postMessage({ event: 'connected' } satisfies HeartEvent);
    },
    (e: Error) => port.postMessage({ event: 'closed', reason: e.message } satisfies HeartEvent),
  );
});
