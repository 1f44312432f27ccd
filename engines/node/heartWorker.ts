/**
 * The heart: a worker thread with its own connection to the controller, so heartbeats keep
 * going while the main thread is stuck in user code. It also receives `interrupt_request`
 * and turns it into SIGINT for this process (which stops synchronous user code through vm's
 * watchdog) plus a message to the main thread (which rejects an awaited task): interrupt.ts.
 * About once a second a beat also carries the process's CPU and memory (processStats.ts).
 * stack_request and profile_request are answered here too, from the main thread's inspector
 * (mainThreadProbe.ts). Kept tiny: it imports only the transport, processStats and the probe.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { createMessage, errorContent, WORK_REQUESTS, type ContentMap, type CurrentTask, type Message } from '../../core/protocol/messages.js';
import { checkContent } from '../../core/protocol/validate.js';
import { Signer } from '../../core/transport/codec.js';
import { Connection, connectTcp } from '../../core/transport/connection.js';
import { RUNNING, TAKEN } from './interruptState.js';
import { mainThreadStack, profileMainThread } from './mainThreadProbe.js';
import { ProcessStats } from './processStats.js';

export interface HeartConfig {
  ip: string;
  port: number;
  key: string;
  uuid: string;
  session: string;
  /** interrupt.ts's interruptState (layout: interruptState.ts). */
  interruptState: Int32Array;
  /** The request the main thread runs: [0] = its msg_id's length (0: none, 255: too long to hold), then its bytes; [255] = 1 + its index in WORK_REQUESTS. */
  currentRequest: Uint8Array;
}
/** Sent by the main thread once registered, and again after each re-registration: (re)connect and beat. */
export interface HeartStart {
  id: number;
  heartbeatMs: number;
}
/**
 * Sent to the main thread. 'cancel': an interrupt_request named msg_ids; the main thread drops
 * those still queued (the running one, when named, also gets the signal).
 */
export type HeartEvent =
  | { event: 'connected' }
  | { event: 'closed'; reason: string }
  | { event: 'exited'; reason: string }
  | { event: 'interrupt'; running: number }
  | { event: 'cancel'; msgIds: string[] }
  | { event: 'ignored'; reason: string };

const config = workerData as HeartConfig;
const port = parentPort!;
/** The first wait before SIGINT is sent again, doubled each time up to the last. */
const RESIGNAL_FIRST_MS = 10;
const RESIGNAL_LAST_MS = 1000;

/**
 * Interrupts the request that runs. The message rejects an awaited task (the main thread's
 * loop is free then); the signal stops synchronous code (the loop is blocked then). Message
 * first, so it is queued before the interrupted code returns. A SIGINT that comes before vm's
 * watchdog is armed (the request is still being prepared) is lost, so it goes again until the
 * main thread has taken the interrupt or the request has ended.
 */
function interrupt(running = Atomics.load(config.interruptState, RUNNING)): void {
  port.postMessage({ event: 'interrupt', running } satisfies HeartEvent);
  // The message may wake the main thread, which takes the interrupt, ends the request and starts
  // the next: a SIGINT sent then would stop that one's synchronous code. Only a request still
  // running whose interrupt was not taken (its loop may be blocked) needs the signal.
  if (running !== 0 && !stillUntaken(running)) return;
  process.kill(process.pid, 'SIGINT');
  if (running !== 0) resignal(running, RESIGNAL_FIRST_MS);
}

function stillUntaken(running: number): boolean {
  const s = config.interruptState;
  return Atomics.load(s, RUNNING) === running && Atomics.load(s, TAKEN) !== running;
}

/**
 * The running request's epoch and msg_id, read as one: the main thread sets the epoch before the
 * msg_id and clears it first, so the same epoch on both sides of the read means the msg_id is that
 * request's (or '' while it is set). Read before anything is posted to the main thread, which
 * could otherwise end the request and start the next between the two reads.
 */
function runningRequest(): { epoch: number; msgId: string | undefined } {
  for (;;) {
    const epoch = Atomics.load(config.interruptState, RUNNING);
    const msgId = currentRequest();
    if (Atomics.load(config.interruptState, RUNNING) === epoch) return { epoch, msgId: epoch === 0 ? '' : msgId };
  }
}

function resignal(running: number, ms: number): void {
  setTimeout(() => {
    if (!stillUntaken(running)) return;
    process.kill(process.pid, 'SIGINT');
    resignal(running, Math.min(2 * ms, RESIGNAL_LAST_MS));
  }, ms);
}

/** The msg_id in config.currentRequest; undefined when it was too long to hold. */
function currentRequest(): string | undefined {
  const b = config.currentRequest;
  const n = b[0];
  if (n === 255) return undefined;
  let s = '';
  for (let i = 1; i <= n; i++) s += String.fromCharCode(b[i]);
  return s;
}

/** What a beat says runs, so the controller sees direct work that blocks the main thread. */
function running(): Pick<CurrentTask, 'msg_id' | 'msg_type'> | undefined {
  const msgId = currentRequest();
  const type = WORK_REQUESTS[config.currentRequest[255] - 1];
  return msgId && type ? { msg_id: msgId, msg_type: type } : undefined;
}

/** Answers a stack_request or profile_request from the controller (its content was checked there). */
function probe(conn: Connection, msg: Message, id: number): void {
  const reply = <T extends 'stack_reply' | 'profile_reply'>(type: T, content: ContentMap[T]) => {
    if (!conn.isClosed) conn.send(createMessage(type, content, { session: config.session, parent: msg.header }));
  };
  const failed = (type: 'stack_reply' | 'profile_reply') => (e: unknown) => reply(type, errorContent('ProbeError', `cannot read the main thread: ${(e as Error)?.message ?? String(e)}`) as ContentMap[typeof type]);
  if (msg.header.msg_type === 'stack_request') {
    const r = running();
    mainThreadStack(r !== undefined).then((frames) => reply('stack_reply', { status: 'ok', engine_id: id, frames, ...(r ? { running: r } : {}) }), failed('stack_reply'));
    return;
  }
  const seconds = (msg.content as ContentMap['profile_request']).seconds;
  profileMainThread(seconds).then((p) => reply('profile_reply', { status: 'ok', engine_id: id, seconds, ...p }), failed('profile_reply'));
}

const stats = new ProcessStats();
let generation = 0;
let current: { conn: Connection; timer: NodeJS.Timeout } | null = null;

port.on('message', (start: HeartStart) => {
  const gen = ++generation;
  if (current) {
    clearInterval(current.timer);
    current.conn.destroy();
    current = null;
  }
  connectTcp(config.ip, config.port).then(
    (socket) => {
      if (gen !== generation) {
        socket.destroy();
        return;
      }
      const conn = new Connection(socket, new Signer(config.key));
      const beat = (): void => {
        const content: ContentMap['heartbeat'] = { uuid: config.uuid, id: start.id };
        const r = running();
        if (r) content.running = r;
        const s = stats.due(start.heartbeatMs);
        if (s) content.stats = s;
        conn.send(createMessage('heartbeat', content, { session: config.session }));
      };
      conn.start({
        onMessage(msg) {
          if (msg.header.msg_type === 'stack_request' || msg.header.msg_type === 'profile_request') return probe(conn, msg, start.id);
          if (msg.header.msg_type !== 'interrupt_request') return;
          let ids: string[] | undefined;
          try {
            ids = checkContent('interrupt_request', msg.content).msg_ids;
          } catch (e) {
            // A malformed interrupt interrupts nothing (as a malformed abort aborts nothing).
            port.postMessage({ event: 'ignored', reason: `a malformed interrupt_request: ${(e as Error).message}` } satisfies HeartEvent);
            return;
          }
          const { epoch, msgId } = runningRequest();
          if (ids !== undefined) {
            const msgIds = ids;
            port.postMessage({ event: 'cancel', msgIds } satisfies HeartEvent);
            if (msgId === '' || (msgId !== undefined && !msgIds.includes(msgId))) return; // not the one running
          }
          interrupt(epoch);
        },
        onClose() {
          clearInterval(timer);
          if (gen === generation) port.postMessage({ event: 'closed', reason: 'heart connection closed' } satisfies HeartEvent);
        },
      });
      beat();
      const timer = setInterval(beat, start.heartbeatMs);
      current = { conn, timer };
      port.postMessage({ event: 'connected' } satisfies HeartEvent);
    },
    (e: Error) => {
      if (gen === generation) port.postMessage({ event: 'closed', reason: e.message } satisfies HeartEvent);
    },
  );
});
