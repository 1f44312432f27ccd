/**
 * Runs `multiengine console` in a real pseudo-terminal (node-pty) and reads the rendered
 * screen through a headless xterm: what a user would see, colours and cursor moves applied.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pty from '@lydell/node-pty';
import xterm from '@xterm/headless';

const { Terminal } = xterm;

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const bin = path.join(repoRoot, 'bin', 'multiengine.js');

export const KEY = {
  enter: '\r',
  up: '\x1b[A',
  down: '\x1b[B',
  tab: '\t',
  ctrlC: '\x03',
  ctrlD: '\x04',
} as const;

export interface SessionOptions {
  /** MULTIENGINE_DIR for the console (history and connection files stay in it). */
  dir: string;
  env?: Record<string, string | undefined>;
  cols?: number;
  rows?: number;
}

export function tmpDir(prefix = 'multiengine-console-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

export class ConsoleSession {
  readonly term: InstanceType<typeof Terminal>;
  readonly proc: pty.IPty;
  readonly exited: Promise<{ exitCode: number; signal?: number }>;
  private exitInfo: { exitCode: number; signal?: number } | undefined;
  /** Everything the program wrote, escape codes included (for failure messages). */
  raw = '';

  constructor(args: string[], opts: SessionOptions) {
    const cols = opts.cols ?? 120;
    const rows = opts.rows ?? 40;
    this.term = new Terminal({ cols, rows, scrollback: 10_000, allowProposedApi: true });
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries({ ...process.env, TERM: 'xterm-256color', MULTIENGINE_DIR: opts.dir, ...opts.env })) {
      if (v !== undefined) env[k] = v;
    }
    this.proc = pty.spawn(process.execPath, [bin, 'console', ...args], { name: 'xterm-256color', cols, rows, cwd: repoRoot, env });
    this.proc.onData((d) => {
      this.raw += d;
      this.term.write(d);
    });
    this.exited = new Promise((resolve) => {
      this.proc.onExit((e) => {
        this.exitInfo = e;
        resolve(e);
      });
    });
  }

  get pid(): number {
    return this.proc.pid;
  }

  get hasExited(): boolean {
    return this.exitInfo !== undefined;
  }

  /** Sends keys as typed. */
  type(keys: string): void {
    this.proc.write(keys);
  }

  /** Types a line and Enter. */
  line(text: string): void {
    this.proc.write(text + KEY.enter);
  }

  /** The absolute row of the cursor: text on or below it is what comes next. */
  mark(): number {
    const b = this.term.buffer.active;
    return b.baseY + b.cursorY;
  }

  /** The screen and scrollback from row `from` on, wrapped lines joined, trailing blanks trimmed. */
  text(from = 0): string {
    const b = this.term.buffer.active;
    const lines: string[] = [];
    for (let i = Math.max(0, from); i < b.length; i++) {
      const l = b.getLine(i);
      if (!l) continue;
      const s = l.translateToString(true);
      if (l.isWrapped && lines.length) lines[lines.length - 1] += s;
      else lines.push(s);
    }
    while (lines.length && lines[lines.length - 1] === '') lines.pop();
    return lines.join('\n');
  }

  /** The line the cursor is on. */
  cursorLine(): string {
    const b = this.term.buffer.active;
    return b.getLine(b.baseY + b.cursorY)?.translateToString(true) ?? '';
  }

  /** Polls the screen (from row `from`) until `pattern` shows; returns that text. Throws with the screen after `timeoutMs`. */
  async waitFor(pattern: string | RegExp, opts: { from?: number; timeoutMs?: number } = {}): Promise<string> {
    const deadline = Date.now() + (opts.timeoutMs ?? 20_000);
    const test = (t: string) => (typeof pattern === 'string' ? t.includes(pattern) : pattern.test(t));
    for (;;) {
      const t = this.text(opts.from);
      if (test(t)) return t;
      if (Date.now() > deadline || this.hasExited) {
        const why = this.hasExited ? `the console exited (${JSON.stringify(this.exitInfo)})` : `${opts.timeoutMs ?? 20_000} ms passed`;
        throw new Error(`waiting for ${String(pattern)}: ${why}; screen from row ${opts.from ?? 0}:\n${t}`);
      }
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  /** Waits for a fresh prompt (`In [n]: ` or `In [n] px[…]: ` as the cursor's line) after row `from`. */
  async waitForPrompt(opts: { from?: number; timeoutMs?: number; n?: number } = {}): Promise<void> {
    // The prompt may name the %px targets: `In [3] px[0,2]: `.
    const re = new RegExp(`In \\[${opts.n ?? '\\d+'}\\](?: px\\[[^\\]]*\\])?:\\s*$`);
    const deadline = Date.now() + (opts.timeoutMs ?? 20_000);
    while (!(this.mark() >= (opts.from ?? 0) && re.test(this.cursorLine()))) {
      if (Date.now() > deadline || this.hasExited) throw new Error(`no prompt ${re}; screen:\n${this.text(opts.from)}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  /** Types `text` at the prompt, waits for the next prompt and returns what was printed in between (the input line included). */
  async run(text: string, opts: { timeoutMs?: number } = {}): Promise<string> {
    const from = this.mark();
    this.line(text);
    await this.waitForPrompt({ from: from + 1, timeoutMs: opts.timeoutMs });
    return this.text(from);
  }

  /** Kills the console if it still runs (it is our child; its cluster exits with it). */
  async kill(): Promise<void> {
    if (this.hasExited) return;
    try {
      this.proc.kill('SIGKILL');
    } catch {
      /* already gone */
    }
    await Promise.race([this.exited, new Promise((r) => setTimeout(r, 5000))]);
  }

  dispose(): void {
    this.term.dispose();
  }
}
