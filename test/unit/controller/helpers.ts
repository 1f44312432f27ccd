/**
 * Test helpers: start the real controller process and talk to it with fake engines and
 * fake clients, both Peers (test/harness/peer.ts) over the real Connection class.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { readConnectionFile, type ConnectionInfo } from '../../../core/connection/connectionFile.js';
import type { ContentMap, EngineState, KernelKind, Message, MsgType } from '../../../core/protocol/messages.js';
import { connectClient, Peer } from '../../harness/peer.js';
import { packageRoot } from '../../../core/util/entry.js';

export interface Ready {
  event: 'ready';
  port: number;
  client_file: string;
  engine_file: string;
  pid: number;
}

export interface RunningController {
  proc: ChildProcess;
  ready: Ready;
  info: ConnectionInfo;
  dir: string;
  /** Everything the controller wrote to stderr so far. */
  stderr: () => string;
  /** Lines written to stdout (should be just the ready line). */
  stdoutLines: string[];
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGTERM (then SIGKILL) and removes the temp dir. */
  stop(): Promise<void>;
}

export async function startController(extra: string[] = [], opts: { heartbeatMs?: number; deadAfterMs?: number } = {}): Promise<RunningController> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'me-ctl-'));
  const args = [
    '--import',
    'tsx',
    path.join(packageRoot, 'core/controller/main.ts'),
    '--dir',
    dir,
    '--profile',
    't',
    '--heartbeat-ms',
    String(opts.heartbeatMs ?? 100),
    '--dead-after-ms',
    String(opts.deadAfterMs ?? 600),
    ...extra,
  ];
  const proc = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], cwd: packageRoot });
  let err = '';
  proc.stderr!.setEncoding('utf8');
  proc.stderr!.on('data', (t: string) => {
    err += t;
    if (process.env.MULTIENGINE_TEST_VERBOSE) process.stderr.write(t);
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => proc.once('exit', (code, signal) => r({ code, signal })));
  const stdoutLines: string[] = [];
  const rl = readline.createInterface({ input: proc.stdout! });
  const ready = await new Promise<Ready>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ready line in 10 s; stderr:\n${err}`)), 10_000);
    void exited.then((x) => reject(new Error(`controller exited (${x.code ?? x.signal}) before ready; stderr:\n${err}`)));
    rl.on('line', (line) => {
      stdoutLines.push(line);
      if (stdoutLines.length === 1) {
        clearTimeout(timer);
        resolve(JSON.parse(line) as Ready);
      }
    });
  });
  const info = readConnectionFile(ready.client_file);
  return {
    proc,
    ready,
    info,
    dir,
    stderr: () => err,
    stdoutLines,
    exited,
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) {
        proc.kill('SIGTERM');
        const t = setTimeout(() => proc.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(t);
      }
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

export { Peer };

/** A client of the controller `ctl`, connect handshake done. */
export function fakeClient(ctl: RunningController, subscribe: 'none' | 'registration' | 'all' = 'none', name = 'client'): Promise<Peer> {
  return connectClient(ctl.info, subscribe, name);
}

/** The controller's status_reply, asked for by `client`. */
export async function status(client: Peer): Promise<ContentMap['status_reply'] & { status: 'ok' }> {
  const req = client.send('status_request', {});
  return content(await client.replyTo(req));
}

/** Whether `m` is an engine_event saying an engine (engine `id`, when given) is now in `state`. */
export function isStateEvent(m: Message, state: EngineState, id?: number): boolean {
  if (m.header.msg_type !== 'engine_event') return false;
  const e = content<ContentMap['engine_event']>(m).engine;
  return e.state === state && (id === undefined || e.id === id);
}

export interface FakeEngineOptions {
  requestedId?: number;
  /** Start a heart that beats every heartbeatMs (default true). */
  heart?: boolean;
  /** Answer work requests automatically (default true): streams one line, then replies ok. */
  autoReply?: boolean;
  kernel?: KernelKind;
  /** What it registers as its pid and host (default: this process, this host). */
  pid?: number;
  host?: string;
}

/** A fake engine: a main socket that registers and answers, plus a heart socket that beats. */
export class FakeEngine {
  readonly uuid = crypto.randomUUID();
  id = -1;
  heart: Peer | null = null;
  private beatTimer: NodeJS.Timeout | null = null;
  autoReply: boolean;
  /** Work requests received, in order. */
  readonly requests: Message[] = [];

  private constructor(
    readonly main: Peer,
    opts: FakeEngineOptions,
  ) {
    this.autoReply = opts.autoReply ?? true;
    main.onMessage = (m, parts) => {
      if (!m.header.msg_type.endsWith('_request') || m.header.msg_type === 'shutdown_request' || m.header.msg_type === 'abort_request') return;
      this.requests.push(m);
      if (this.autoReply) this.answer(m, parts);
    };
  }

  static async start(ctl: RunningController, opts: FakeEngineOptions = {}): Promise<FakeEngine> {
    const main = await Peer.connect(ctl.info, 'engine');
    main.keepParts = true; // tests compare the bytes an engine got with what the client signed
    const e = new FakeEngine(main, opts);
    const content: ContentMap['registration_request'] = { uuid: e.uuid, kernel: opts.kernel ?? 'node', language_version: 'fake', host: opts.host ?? os.hostname(), pid: opts.pid ?? process.pid };
    if (opts.requestedId !== undefined) content.requested_id = opts.requestedId;
    const reply = await main.request('registration_request', content);
    const c = reply.content as ContentMap['registration_reply'];
    if (c.status !== 'ok') throw new Error(`registration failed: ${JSON.stringify(c)}`);
    e.id = c.id;
    if (opts.heart ?? true) await e.startHeart(ctl, c.heartbeat_ms);
    return e;
  }

  async startHeart(ctl: RunningController, heartbeatMs: number): Promise<void> {
    this.heart = await Peer.connect(ctl.info, `heart ${this.id}`);
    const beat = () => this.heart!.send('heartbeat', { uuid: this.uuid, id: this.id });
    beat();
    this.beatTimer = setInterval(beat, heartbeatMs);
    // A fake engine a test did not close must not keep the test process alive after its controller is gone.
    this.beatTimer.unref();
  }

  stopBeating(): void {
    if (this.beatTimer) clearInterval(this.beatTimer);
    this.beatTimer = null;
  }

  /** Streams `engine N: <msg_type>` then replies ok with the request's metadata echoed as result. */
  answer(req: Message, _parts?: Buffer[], text?: string): void {
    const replyType = req.header.msg_type.replace(/_request$/, '_reply') as MsgType;
    const md = { engine_id: this.id, started: new Date().toISOString(), completed: new Date().toISOString() };
    this.main.send('stream', { name: 'stdout', text: text ?? `engine ${this.id}: ${req.header.msg_type}\n` }, { parent: req.header, metadata: md });
    this.main.send(replyType as 'apply_reply', { status: 'ok', result: this.id }, { parent: req.header, metadata: md, buffers: req.buffers });
  }

  close(): void {
    this.stopBeating();
    this.main.close();
    this.heart?.close();
  }
}

export function content<T = Record<string, unknown>>(m: Message): T {
  return m.content as T;
}

export { sleep, until } from '../../harness/poll.js';
export { isAlive } from '../../../core/util/processes.js';
