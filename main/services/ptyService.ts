/**
 * PtyService: runs `multiengine console --file <client connection file>` under a pseudo-
 * terminal (node-pty), sends its output to the renderer coalesced every few milliseconds,
 * and applies watermark flow control: above ~100k unacknowledged characters the pty is
 * paused until the renderer has caught up to below ~5k. The %px targets (the engine table's
 * selection) reach the console through its side channel (core/console/control.ts), never as
 * keystrokes: while the console has not applied the newest ones, the user's keystrokes wait,
 * so a line entered after a selection runs on it.
 */
import path from 'node:path';
import { CONTROL_ENV, type ControlTargets } from '../../core/console/control.js';
import { ControlServer } from '../../core/console/controlServer.js';
import { packageRoot } from '../../core/util/entry.js';
import type { EventSink } from '../ipc/router.js';
import { FlowController, OutputCoalescer } from './flowControl.js';

/** The part of node-pty's IPty this uses. */
export interface PtyProcess {
  readonly pid: number;
  onData(cb: (data: string) => void): { dispose(): void };
  onExit(cb: (e: { exitCode: number; signal?: number }) => void): { dispose(): void };
  write(data: string): void;
  resize(cols: number, rows: number): void;
  pause(): void;
  resume(): void;
  kill(signal?: string): void;
}

export interface PtySpawnOptions {
  name: string;
  cols: number;
  rows: number;
  cwd: string;
  env: Record<string, string>;
}

export type PtySpawner = (file: string, args: string[], opts: PtySpawnOptions) => PtyProcess;

export interface ConsoleCommand {
  file: string;
  args: string[];
  env?: Record<string, string | undefined>;
  cwd?: string;
}

/** How the app runs the console: this package's CLI, with the current node (or Electron as node). */
export function consoleCommand(clientFile: string): ConsoleCommand {
  return {
    file: process.execPath,
    args: [path.join(packageRoot, 'bin', 'multiengine.js'), 'console', '--file', clientFile],
    env: process.versions.electron ? { ELECTRON_RUN_AS_NODE: '1' } : {},
  };
}

/** node-pty, loaded on first use (a native module: nothing else needs it). */
export async function nodePtySpawner(): Promise<PtySpawner> {
  const pty = await import('@lydell/node-pty');
  return (file, args, opts) => pty.spawn(file, args, opts) as unknown as PtyProcess;
}

export const BACKLOG_CHARS = 256 * 1024;

export interface PtyServiceOptions {
  events: EventSink;
  spawner: () => Promise<PtySpawner>;
  /** The command for a connection file; default: consoleCommand. */
  command?: (clientFile: string) => ConsoleCommand;
  /** How long keystrokes wait for the console to apply new targets before they go on anyway, ms. */
  settleMs?: number;
  log?: (line: string) => void;
}

export class PtyService {
  private proc: PtyProcess | null = null;
  private disposables: { dispose(): void }[] = [];
  private file: string | null = null;
  private cols = 100;
  private rows = 30;
  private backlog = '';
  private running = false;
  private readonly flow: FlowController;
  private readonly out: OutputCoalescer;
  private targets: ControlTargets = 'all';
  private control: ControlServer | null = null;
  private controlPromise: Promise<ControlServer | null> | null = null;
  /** Keystrokes waiting for the console to apply the newest targets. */
  private held: string[] = [];
  private holdTimer: ReturnType<typeof setTimeout> | null = null;
  private disposed = false;
  private spawnerPromise: Promise<PtySpawner> | null = null;
  private startSeq = 0;
  /** Why no cluster runs, when it was shut down (said in the terminal). */
  private ended: string | null = null;

  constructor(private readonly opts: PtyServiceOptions) {
    this.flow = new FlowController({ pause: () => this.proc?.pause(), resume: () => this.proc?.resume() });
    this.out = new OutputCoalescer((data) => {
      this.appendBacklog(data);
      this.flow.sent(data.length);
      this.opts.events.emit('onPtyData', { data });
    });
  }

  get isRunning(): boolean {
    return this.running;
  }

  get pid(): number | null {
    return this.proc?.pid ?? null;
  }

  /** Runs the console against `file`, replacing a console that runs; null: stop it and say why (`ended`: the cluster was shut down, and how). */
  async connect(file: string | null, ended: string | null = null): Promise<void> {
    this.file = file;
    this.ended = file ? null : ended;
    await this.start();
  }

  async restart(): Promise<void> {
    await this.start();
  }

  private async start(): Promise<void> {
    const seq = ++this.startSeq;
    this.kill();
    if (this.disposed) return;
    if (!this.file) {
      const why = this.ended ? `${this.ended}. The console starts again with the next cluster` : 'no cluster: the console starts when one is running';
      this.emitText(`\r\n\x1b[2m[${why}]\x1b[0m\r\n`);
      return;
    }
    this.spawnerPromise ??= this.opts.spawner();
    let spawn: PtySpawner;
    try {
      spawn = await this.spawnerPromise;
    } catch (e) {
      this.spawnerPromise = null;
      this.emitText(`\r\n\x1b[31m[cannot load node-pty: ${(e as Error).message}]\x1b[0m\r\n`);
      return;
    }
    const control = await this.controlServer();
    if (seq !== this.startSeq || this.disposed) return;
    const cmd = (this.opts.command ?? consoleCommand)(this.file);
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries({ ...process.env, ...cmd.env })) if (typeof v === 'string') env[k] = v;
    if (control) env[CONTROL_ENV] = control.path;
    else delete env[CONTROL_ENV];
    env.TERM = 'xterm-256color';
    env.COLORTERM = 'truecolor';
    let proc: PtyProcess;
    try {
      proc = spawn(cmd.file, cmd.args, { name: 'xterm-256color', cols: this.cols, rows: this.rows, cwd: cmd.cwd ?? process.cwd(), env });
    } catch (e) {
      this.emitText(`\r\n\x1b[31m[cannot start the console: ${(e as Error).message}]\x1b[0m\r\n`);
      return;
    }
    this.proc = proc;
    this.running = true;
    this.flow.reset();
    this.disposables = [
      proc.onData((d) => {
        if (this.proc === proc) this.out.push(d);
      }),
      proc.onExit(({ exitCode, signal }) => {
        if (this.proc !== proc) return;
        this.out.flush();
        this.running = false;
        this.proc = null;
        this.disposeListeners();
        this.emitText(`\r\n\x1b[2m[console exited${exitCode ? ` with code ${exitCode}` : ''}; press Enter to start it again]\x1b[0m\r\n`);
        this.opts.events.emit('onPtyExit', { code: exitCode ?? null, signal: signal ?? null });
      }),
    ];
    this.opts.log?.(`console pid ${proc.pid}: ${cmd.file} ${cmd.args.join(' ')}`);
  }

  /** The side channel's socket, made once; null (and the console runs without it) when it cannot be. */
  private controlServer(): Promise<ControlServer | null> {
    return (this.controlPromise ??= ControlServer.listen().then(
      (server) => {
        if (this.disposed) {
          server.close();
          return null;
        }
        server.setTargets(this.targets);
        this.control = server;
        return server;
      },
      (e: unknown) => {
        this.opts.log?.(`no side channel to the console (selecting engines will not set its %px targets): ${(e as Error).message}`);
        return null;
      },
    ));
  }

  private emitText(text: string): void {
    this.out.push(text);
  }

  private appendBacklog(data: string): void {
    this.backlog += data;
    if (this.backlog.length > BACKLOG_CHARS * 1.25) {
      let cut = this.backlog.length - BACKLOG_CHARS;
      const nl = this.backlog.indexOf('\n', cut);
      if (nl >= 0 && nl - cut < 4096) cut = nl + 1;
      this.backlog = this.backlog.slice(cut);
    }
  }

  /** A renderer (re)attached: it gets the recent output, and flow control starts afresh. */
  attach(): { backlog: string; running: boolean } {
    this.out.flush();
    this.flow.reset();
    return { backlog: this.backlog, running: this.running };
  }

  write(data: string): void {
    if (!this.proc) {
      if (data.includes('\r') && this.file) void this.start();
      return;
    }
    const control = this.control;
    if (this.held.length === 0 && (!control || control.settled)) {
      this.proc.write(data);
      return;
    }
    this.held.push(data);
    // Ctrl-C must not wait: it is how the user stops code that keeps the console from answering.
    if (data.includes('\x03')) return this.release();
    if (this.held.length > 1 || !control) return;
    this.holdTimer = setTimeout(() => {
      this.opts.log?.(`the console did not apply the %px targets within ${this.opts.settleMs ?? 2000} ms; passing the input on`);
      control.giveUp();
    }, this.opts.settleMs ?? 2000);
    control.whenSettled(() => this.release());
  }

  /** The console has applied the targets (or gone): the held keystrokes go on, in order. */
  private release(): void {
    if (this.holdTimer) clearTimeout(this.holdTimer);
    this.holdTimer = null;
    const data = this.held.join('');
    this.held = [];
    if (data) this.proc?.write(data);
  }

  resize(cols: number, rows: number): void {
    this.cols = cols;
    this.rows = rows;
    try {
      this.proc?.resize(cols, rows);
    } catch {
      /* the pty may be closing */
    }
  }

  ack(chars: number): void {
    this.flow.ack(chars);
  }

  /**
   * Selecting rows sets the console's %px targets (none selected: all engines), through the
   * side channel: nothing is typed, so the transcript and a half-typed line stay as they are.
   */
  setPxTargets(ids: readonly number[]): void {
    this.targets = ids.length ? [...ids] : 'all';
    this.control?.setTargets(this.targets);
  }

  private disposeListeners(): void {
    for (const d of this.disposables) d.dispose();
    this.disposables = [];
  }

  private kill(): void {
    const proc = this.proc;
    this.proc = null;
    this.running = false;
    this.release(); // keystrokes held for this console die with it
    this.disposeListeners();
    this.out.flush();
    if (proc) {
      try {
        proc.kill();
      } catch {
        /* already gone */
      }
    }
  }

  dispose(): void {
    this.disposed = true;
    this.kill();
    this.control?.close();
    this.control = null;
    this.out.dispose();
  }

  /** For tests: the flow controller's state. */
  get flowState(): { unacknowledged: number; paused: boolean } {
    return { unacknowledged: this.flow.unacknowledged, paused: this.flow.isPaused };
  }
}
