/**
 * A minimal controller for engine tests, for a node or a python engine: one TCP server with a
 * known key, an engine connection file in a temp dir, registration answered with the engine id,
 * and the engine's main and heart connections exposed so a test can send requests and watch
 * what comes back (Inboxes of test/harness/peer.ts); connectDirect() opens a client's direct
 * connection to the engine (section 13), a Peer.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeConnectionFile } from '../../../core/connection/connectionFile.js';
import { createMessage, newSession, type ContentMap, type DirectAddress, type Message, type MsgType } from '../../../core/protocol/messages.js';
import { Signer } from '../../../core/transport/codec.js';
import { Connection, connectTcp } from '../../../core/transport/connection.js';
import { Inbox, isReplyTo, Peer, type Received, type SendOptions } from '../../harness/peer.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const KEY = 'test-key-0123456789abcdef';

export type EngineKind = 'node' | 'python';
export const PYTHON = process.env.MULTIENGINE_PYTHON || 'python3';
const PYTHON_ENGINE = path.join(repoRoot, 'engines', 'python', 'multiengine_engine.py');
/** Why python engines cannot run here, or false when they can (Python >= 3.8 on PATH): a node:test `skip`. */
export const noPython: string | false = spawnSync(PYTHON, ['-c', 'import sys; sys.exit(sys.version_info < (3, 8))']).status === 0 ? false : `no ${PYTHON} (>= 3.8) on PATH`;

export class FakeController {
  readonly session = newSession();
  readonly signer = new Signer(KEY);
  readonly main = new Inbox('main');
  readonly heart = new Inbox('heart');
  mainConn: Connection | null = null;
  heartConn: Connection | null = null;
  engine: ChildProcess | null = null;
  stderr = '';
  private server!: net.Server;
  dir!: string;
  file!: string;
  private registered!: Promise<void>;
  private exited!: Promise<number | null>;

  /**
   * `command`: the argv that starts an engine of another language (it gets `--file <engine.json>`
   * appended); by default the node or python engine of this repository, after `kind`.
   */
  constructor(
    private readonly heartbeatMs = 100,
    readonly engineId = 0,
    readonly kind: string = 'node',
    private readonly command?: string[],
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
            const reply = { status: 'ok' as const, id: this.engineId, heartbeat_ms: this.heartbeatMs, ...this.limits };
            conn.send(createMessage('registration_reply', reply, { session: this.session, parent: msg.header }));
            // Same tick: the connection writes both at once, so they reach the engine in one read.
            this.withRegistration?.(conn);
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
   * Starts the engine, in the temp dir, and waits for registration. A node engine runs by
   * default from source under tsx (by absolute URL: a bare `tsx` would not resolve from the temp
   * dir); `entry` runs another main, e.g. a compiled dist/engines/node/main.js.
   */
  async startEngine(extraArgs: string[] = [], entry?: string): Promise<void> {
    const [cmd, ...argv] =
      this.command ??
      (this.kind === 'python'
        ? [PYTHON, PYTHON_ENGINE]
        : [process.execPath, ...(entry ? [entry] : ['--import', import.meta.resolve('tsx'), path.join(repoRoot, 'engines/node/main.ts')])]);
    const child = spawn(cmd, [...argv, '--file', this.file, ...extraArgs], {
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

  /** Sends a message on the main connection; returns it. */
  send<T extends MsgType>(type: T, content: ContentMap[T], opts: Uint8Array[] | SendOptions = {}): Message<T> {
    const o = Array.isArray(opts) ? { buffers: opts } : opts;
    const msg = createMessage(type, content, { session: this.session, ...o });
    this.mainConn!.send(msg);
    return msg;
  }

  /** Sends a message on the heart connection (where interrupt_request goes). */
  sendHeart<T extends MsgType>(type: T, content: ContentMap[T]): Message<T> {
    const msg = createMessage(type, content, { session: this.session });
    this.heartConn!.send(msg);
    return msg;
  }

  /** The `direct` address the engine registered with. */
  async directAddress(): Promise<DirectAddress> {
    const reg = (await this.main.next((m) => m.header.msg_type === 'registration_request')).msg;
    const direct = (reg.content as ContentMap['registration_request']).direct;
    if (!direct) throw new Error(`the ${this.kind} engine registered without a direct address`);
    return direct;
  }

  /** A client's direct connection to the engine, handshake done. */
  async connectDirect(): Promise<DirectPeer> {
    const { ip, port } = await this.directAddress();
    const reg = (await this.main.next((m) => m.header.msg_type === 'registration_request')).msg;
    const peer = new DirectPeer(new Connection(await connectTcp(ip, port), this.signer), this.session, this.engineId);
    this.directs.push(peer);
    const hello = peer.send('engine_connect_request', { engine_uuid: (reg.content as ContentMap['registration_request']).uuid });
    const reply = (await peer.next((m) => isReplyTo(m, hello), 10_000, 'engine_connect_reply')).msg;
    if ((reply.content as { status?: string }).status !== 'ok') throw new Error(`direct handshake failed: ${JSON.stringify(reply.content)}`);
    return peer;
  }

  private readonly directs: DirectPeer[] = [];
  /** Sends more right behind the registration_reply (set before startEngine). */
  withRegistration: ((conn: Connection) => void) | null = null;
  /** Limits the registration_reply tells the engine (protocol section 6); set before startEngine. */
  limits: { max_message_bytes?: number; max_output_bytes?: number } = {};

  /** The reply to `req` (any message whose parent is req and whose type ends in _reply). */
  async reply(req: Message, timeoutMs = 10_000): Promise<Received> {
    return this.main.next((m) => isReplyTo(m, req), timeoutMs, `reply to ${req.header.msg_type}`);
  }

  /** Sends and waits for the reply. */
  async request<T extends MsgType>(type: T, content: ContentMap[T], opts: Uint8Array[] | SendOptions = {}): Promise<Message> {
    return (await this.reply(this.send(type, content, opts))).msg;
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
    for (const d of this.directs) d.conn.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

/** A client's direct connection to an engine: a Peer whose requests carry `metadata.targets = [engine id]` unless told otherwise. */
export class DirectPeer extends Peer {
  constructor(
    conn: Connection,
    session: string,
    private readonly engineId: number,
  ) {
    super(conn, 'direct', session);
  }

  override send<T extends MsgType>(type: T, content: ContentMap[T], opts: SendOptions = {}): Message<T> {
    const metadata = opts.metadata ?? (type === 'engine_connect_request' ? {} : { targets: [this.engineId] });
    return super.send(type, content, { ...opts, metadata });
  }
}
