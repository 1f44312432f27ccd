/**
 * The app's end of the console's side channel (see control.ts): a Unix socket in a private
 * (0700) temp dir. It keeps the newest targets, sends them to the console that connects and
 * on every change, and knows whether the console has applied the last ones ("settled"), so
 * the app can hold the user's keystrokes until it has: a line entered after a selection
 * runs on that selection.
 */
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { encodeControl, lineSplitter, parseApplied, type ControlTargets } from './control.js';

export class ControlServer {
  private conn: net.Socket | null = null;
  private targets: ControlTargets = 'all';
  private sentSeq = 0;
  private appliedSeq = 0;
  private waiters: (() => void)[] = [];

  private constructor(
    private readonly server: net.Server,
    private readonly dir: string,
    /** The socket's path: the console gets it in MULTIENGINE_CONSOLE_CONTROL. */
    readonly path: string,
  ) {
    server.on('connection', (sock) => this.accept(sock));
  }

  static async listen(): Promise<ControlServer> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'multiengine-console-'));
    fs.chmodSync(dir, 0o700);
    const file = path.join(dir, 'control.sock');
    const server = net.createServer();
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(file, () => {
          server.off('error', reject);
          resolve();
        });
      });
    } catch (e) {
      fs.rmSync(dir, { recursive: true, force: true });
      throw e;
    }
    return new ControlServer(server, dir, file);
  }

  /** The newest console replaces an older one (the app runs one at a time). */
  private accept(sock: net.Socket): void {
    this.conn?.destroy();
    this.conn = sock;
    sock.setEncoding('utf8');
    sock.on(
      'data',
      lineSplitter((line) => {
        const seq = parseApplied(line);
        if (seq !== undefined && sock === this.conn) this.applied(seq);
      }),
    );
    sock.on('error', () => {});
    sock.on('close', () => {
      if (this.conn !== sock) return;
      this.conn = null;
      this.applied(this.sentSeq);
    });
    this.send();
  }

  /** Sets the console's %px targets; the console applies them before its next line runs. */
  setTargets(targets: ControlTargets): void {
    this.targets = targets === 'all' ? 'all' : [...targets];
    this.send();
  }

  private send(): void {
    if (!this.conn) return;
    this.sentSeq++;
    this.conn.write(encodeControl({ type: 'targets', targets: this.targets, seq: this.sentSeq }));
  }

  private applied(seq: number): void {
    if (seq > this.appliedSeq) this.appliedSeq = Math.min(seq, this.sentSeq);
    if (!this.settled) return;
    const ws = this.waiters;
    this.waiters = [];
    for (const w of ws) w();
  }

  /** True when no console is connected or it has applied the last targets sent. */
  get settled(): boolean {
    return this.conn === null || this.appliedSeq >= this.sentSeq;
  }

  /** Calls `cb` once settled (at once when it is). */
  whenSettled(cb: () => void): void {
    if (this.settled) cb();
    else this.waiters.push(cb);
  }

  /** Lets go of a console that does not answer: what waits for it goes on. */
  giveUp(): void {
    this.applied(this.sentSeq);
  }

  close(): void {
    this.conn?.destroy();
    this.conn = null;
    this.server.close();
    this.giveUp();
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}
