/**
 * A minimal controller for engine tests: one TCP server with a known key, an engine
 * connection file in a temp dir, registration answered with id 0, and the engine's main
 * and heart connections exposed so a test can send requests and watch what comes back.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeConnectionFile } from '../../../core/connection/connectionFile.js';
import { createMessage, newSession, type ContentMap, type Message, type MsgType } from '../../../core/protocol/messages.js';
import { Signer } from '../../../core/transport/codec.js';
import { Connection } from '../../../core/transport/connection.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const KEY = 'test-key-0123456789abcdef';

export interface Received {
  msg: Message;
  /** performance.now() when it arrived. */
  at: number;
}

/** Messages from one peer connection, awaitable by predicate. */
export class Inbox {
  readonly messages: Received[] = [];
  private waiters: Array<{ pred: (m: Message) => boolean; resolve: (m: Received) => void }> = [];

  push(msg: Message): void {
    const r = { msg, at: performance.now() };
    this.messages.push(r);
    this.waiters = this.waiters.filter((w) => {
      if (!w.pred(msg)) return true;
      w.resolve(r);
      return false;
    });
  }

  /** The first message (already received or future) matching `pred`. */
  next(pred: (m: Message) => boolean, timeoutMs = 10_000, what = 'message'): Promise<Received> {
    const found = this.messages.find((r) => pred(r.msg));
    if (found) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)), timeoutMs);
      this.waiters.push({
        pred,
        resolve: (r) => {
          clearTimeout(timer);
          resolve(r);
        },
      });
    });
  }

  count(pred: (m: Message) => boolean): number {
    return this.messages.filter((r) => pred(r.msg)).length;
  }
}

export class FakeController {
  readonly session = newSession();
  readonly signer = new Signer(KEY);
  readonly main = new Inbox();
  readonly heart = new Inbox();
  mainConn: Connection | null = null;
  heartConn: Connection | null = null;
  engine: ChildProcess | null = null;
  stderr = '';
  private server!: net.Server;
  dir!: string;
  file!: string;
  private registered!: Promise<void>;
  private exited!: Promise<number | null>;

  constructor(
    private readonly heartbeatMs = 100,
    private readonly engineId = 0,
  ) {}

  async listen(): Promise<void> {
    let onRegistered!: () => void;
    this.registered = new Promise((r) => (onRegistered = r));
    this.server = net.createServer((socket) => {
      const conn = new Connection(socket, this.signer);
      let role: 'main' | 'heart' | null = null;
      conn.start({
        onMessage: (msg) => {
          if (role === null) {
            role = msg.header.msg_type === 'heartbeat' ? 'heart' : 'main';
            if (role === 'heart') this.heartConn = conn;
            else this.mainConn = conn;
          }
          (role === 'heart' ? this.heart : this.main).push(msg);
          if (msg.header.msg_type === 'registration_request') {
            conn.send(createMessage('registration_reply', { status: 'ok', id: this.engineId, heartbeat_ms: this.heartbeatMs }, { session: this.session, parent: msg.header }));
            onRegistered();
          }
        },
      });
    });
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    const port = (this.server.address() as net.AddressInfo).port;
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'multiengine-engine-test-'));
    this.file = path.join(this.dir, 'engine.json');
    writeConnectionFile(this.file, {
      transport: 'tcp',
      ip: '127.0.0.1',
      port,
      key: KEY,
      signature_scheme: 'hmac-sha256',
      controller_pid: process.pid,
      profile: 'test',
      heartbeat_ms: this.heartbeatMs,
    });
  }

  /**
   * Starts the engine, in the temp dir, and waits for registration. By default from source
   * under tsx (by absolute URL: a bare `tsx` would not resolve from the temp dir); `entry`
   * runs another main, e.g. a compiled dist/engines/node/main.js.
   */
  async startEngine(extraArgs: string[] = [], entry?: string): Promise<void> {
    const argv = entry ? [entry] : ['--import', import.meta.resolve('tsx'), path.join(repoRoot, 'engines/node/main.ts')];
    const child = spawn(process.execPath, [...argv, '--file', this.file, ...extraArgs], {
      cwd: this.dir,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.engine = child;
    child.stdout!.on('data', (d: Buffer) => (this.stderr += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (this.stderr += d.toString()));
    this.exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
    await Promise.race([
      this.registered,
      this.exited.then((code) => {
        throw new Error(`engine exited with code ${code} before registering: ${this.stderr}`);
      }),
    ]);
  }

  /** Sends a request on the main connection; returns its message. */
  send<T extends MsgType>(type: T, content: ContentMap[T], buffers: Uint8Array[] = []): Message<T> {
    const msg = createMessage(type, content, { session: this.session, buffers });
    this.mainConn!.send(msg);
    return msg;
  }

  /** The reply to `req` (any message whose parent is req and whose type ends in _reply). */
  async reply(req: Message, timeoutMs = 10_000): Promise<Received> {
    return this.main.next((m) => isReplyTo(m, req), timeoutMs, `reply to ${req.header.msg_type}`);
  }

  /** Sends and waits for the reply. */
  async request<T extends MsgType>(type: T, content: ContentMap[T], buffers: Uint8Array[] = []): Promise<Message> {
    return (await this.reply(this.send(type, content, buffers))).msg;
  }

  streamsFor(req: Message): Received[] {
    return this.main.messages.filter((r) => r.msg.header.msg_type === 'stream' && (r.msg.parent_header as { msg_id?: string }).msg_id === req.header.msg_id);
  }

  exitCode(timeoutMs = 5000): Promise<number | null> {
    return Promise.race([this.exited, new Promise<never>((_, reject) => setTimeout(() => reject(new Error('engine did not exit')), timeoutMs))]);
  }

  async close(): Promise<void> {
    if (this.engine && this.engine.exitCode === null && this.engine.signalCode === null) {
      this.engine.kill('SIGKILL');
      await this.exited;
    }
    this.mainConn?.destroy();
    this.heartConn?.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

export function isReplyTo(m: Message, req: Message): boolean {
  return m.header.msg_type.endsWith('_reply') && (m.parent_header as { msg_id?: string }).msg_id === req.header.msg_id;
}
