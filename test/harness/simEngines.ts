/**
 * Many engines played by one process, for the scale tests and `npm run bench -- --scale`. Each
 * simulated engine is what docs/protocol.md (sections 1, 7, 8) asks of an engine and nothing
 * more: a main connection that registers and answers work requests in arrival order after a
 * configurable service time, and a heart connection that beats every heartbeat_ms. It runs no
 * code: execute answers `execution_count`, apply answers null (or the first argument, so a map
 * can be checked), pull answers nulls. It can die: close its sockets (the controller sees the
 * main connection close) or fall silent (beats stop, requests are never answered).
 * It uses only the public protocol (core/protocol, core/transport): a conformance client too.
 */
import { createMessage, isWorkRequest, newSession, replyTypeOf, type ContentMap, type Header, type Message, type Metadata, type MsgType } from '../../core/protocol/messages.js';
import { Signer } from '../../core/transport/codec.js';
import { Connection, connectTcp } from '../../core/transport/connection.js';

export interface SimOptions {
  /** Milliseconds each request takes to serve (0: answered in the tick it arrives). */
  serviceMs?: number;
  /** The language it registers as (default node: the TypeScript client tags function tasks 'node'). */
  kernel?: string;
  /** Registrations in flight at once (default: all at once, a storm like `srun -n 1000`). */
  concurrency?: number;
  /** How long a registration may take before start() fails naming the engine. */
  timeoutMs?: number;
}

/**
 * The host they claim: not this machine's name, so that nothing takes their pid (this process's)
 * for a local engine process to signal (a Cluster reaps the local engines' pids when it stops).
 */
export const SIM_HOST = 'simulated.invalid';

export class SimEngine {
  id = -1;
  readonly uuid = crypto.randomUUID();
  readonly session = newSession();
  main: Connection | null = null;
  heart: Connection | null = null;
  /** Work requests received and answered. */
  received = 0;
  answered = 0;
  /** The last work request it received, as it came (a test reads its metadata). */
  lastRequest: Message | null = null;
  /** Set once it died (closed or fell silent): it answers nothing more. */
  dead = false;
  /** This engine's service time, when it differs from its set's (a test makes a few hang). */
  serviceMs: number | undefined;
  private executions = 0;
  private beat: NodeJS.Timeout | null = null;
  private readonly queue: Message[] = [];
  private serving = false;
  /** The request being served for its service time (cleared when the engine dies). */
  private serviceTimer: NodeJS.Timeout | null = null;

  constructor(private readonly set: SimEngines) {}

  /** Registers (section 7, steps 2–4) and starts beating; resolves with its id. */
  async register(info: { ip: string; port: number }, signer: Signer, kernel: string, timeoutMs: number): Promise<number> {
    const main = (this.main = new Connection(await connectTcp(info.ip, info.port, timeoutMs), signer));
    const reply = new Promise<Message>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`simulated engine ${this.uuid}: no registration_reply within ${timeoutMs} ms`)), timeoutMs);
      let registered = false;
      main.start({
        onMessage: (m) => {
          if (!registered && m.header.msg_type === 'registration_reply') {
            registered = true;
            clearTimeout(timer);
            resolve(m);
          } else this.onRequest(m);
        },
        onClose: () => {
          clearTimeout(timer);
          if (!registered) reject(new Error(`simulated engine ${this.uuid}: the controller closed the connection before registration_reply`));
          this.stopBeating();
        },
      });
    });
    main.send(this.message('registration_request', { uuid: this.uuid, kernel, language_version: 'sim', host: SIM_HOST, pid: process.pid }));
    const c = (await reply).content as ContentMap['registration_reply'];
    if (c.status !== 'ok') throw new Error(`simulated engine refused: ${'evalue' in c ? c.evalue : c.status}`);
    this.id = c.id;
    const heart = (this.heart = new Connection(await connectTcp(info.ip, info.port, timeoutMs), signer));
    heart.start({ onMessage: () => undefined, onClose: () => this.stopBeating() });
    const beat = () => {
      heart.send(this.message('heartbeat', { uuid: this.uuid, id: this.id }));
      this.set.beats++;
    };
    beat();
    this.beat = setInterval(beat, c.heartbeat_ms);
    return this.id;
  }

  private message<T extends MsgType>(type: T, content: ContentMap[T], parent?: Header, metadata?: Metadata): Message<T> {
    return createMessage(type, content, { session: this.session, parent, metadata });
  }

  private onRequest(m: Message): void {
    if (this.dead) return;
    const type = m.header.msg_type;
    if (type === 'shutdown_request') return this.die('close');
    if (!isWorkRequest(type)) return; // abort, interrupt: nothing queued long enough to matter
    this.received++;
    this.lastRequest = m;
    this.queue.push(m);
    if (!this.serving) this.serveNext();
  }

  /** One request at a time, in arrival order (section 8). */
  private serveNext(): void {
    const m = this.queue.shift();
    if (m === undefined || this.dead) {
      this.serving = false;
      return;
    }
    this.serving = true;
    const received = new Date().toISOString();
    const answer = () => {
      this.serviceTimer = null;
      if (this.dead) return;
      this.reply(m, received);
      this.serveNext();
    };
    const ms = this.serviceMs ?? this.set.serviceMs;
    if (ms > 0) this.serviceTimer = setTimeout(answer, ms);
    else answer();
  }

  private reply(m: Message, received: string): void {
    const type = replyTypeOf(m.header.msg_type);
    const c = m.content as Record<string, unknown>;
    let content: Record<string, unknown> = {};
    if (type === 'execute_reply') content = { execution_count: ++this.executions };
    else if (type === 'apply_reply') content = { result: Array.isArray(c.args) && c.args.length > 0 ? c.args[0] : null };
    else if (type === 'pull_reply') content = { values: Array.isArray(c.names) ? c.names.map(() => null) : [] };
    else if (type === 'keys_reply') content = { keys: [] };
    const now = new Date().toISOString();
    this.main!.send(this.message(type, { status: 'ok', ...content } as ContentMap[typeof type], m.header, { engine_id: this.id, received, started: received, completed: now }));
    this.answered++;
  }

  private stopBeating(): void {
    if (this.beat) clearInterval(this.beat);
    this.beat = null;
  }

  /** 'close': both sockets closed (a crash). 'silent': beats and answers stop, sockets stay open (a hang). */
  die(how: 'close' | 'silent'): void {
    this.dead = true;
    this.stopBeating();
    if (this.serviceTimer) clearTimeout(this.serviceTimer);
    this.serviceTimer = null;
    this.queue.length = 0;
    if (how === 'close') {
      this.main?.destroy();
      this.heart?.destroy();
    }
  }

  /** Both connections closed (after a shutdown_request, or die('close')). */
  get closed(): boolean {
    return (this.main?.isClosed ?? true) && (this.heart?.isClosed ?? true);
  }
}

export class SimEngines {
  readonly engines: SimEngine[] = [];
  /** Heartbeats sent by all of them. */
  beats = 0;
  /** Service time of requests that arrive from now on (a test may slow the engines down mid-run). */
  serviceMs: number;

  private constructor(opts: SimOptions) {
    this.serviceMs = opts.serviceMs ?? 0;
  }

  /** `n` simulated engines registered with the controller of `info` (its engine connection file). */
  static async start(info: { ip: string; port: number; key: string }, n: number, opts: SimOptions = {}): Promise<SimEngines> {
    const set = new SimEngines(opts);
    await set.add(info, n, opts);
    return set;
  }

  /** Registers `n` more; resolves once each has its id and its heart beats. */
  async add(info: { ip: string; port: number; key: string }, n: number, opts: SimOptions = {}): Promise<SimEngine[]> {
    const signer = new Signer(info.key);
    const fresh = Array.from({ length: n }, () => new SimEngine(this));
    this.engines.push(...fresh);
    const limit = Math.max(1, Math.min(n, opts.concurrency ?? n));
    let next = 0;
    const lane = async () => {
      while (next < fresh.length) await fresh[next++].register(info, signer, opts.kernel ?? 'node', opts.timeoutMs ?? 30_000);
    };
    await Promise.all(Array.from({ length: limit }, lane));
    return fresh;
  }

  /** The engine registered with `id`. */
  byId(id: number): SimEngine | undefined {
    return this.engines.find((e) => e.id === id);
  }

  get received(): number {
    return this.engines.reduce((a, e) => a + e.received, 0);
  }

  get answered(): number {
    return this.engines.reduce((a, e) => a + e.answered, 0);
  }

  /** Engines whose sockets are still open. */
  get open(): SimEngine[] {
    return this.engines.filter((e) => !e.closed);
  }

  /** Closes every engine's sockets. */
  stop(): void {
    for (const e of this.engines) e.die('close');
  }
}
