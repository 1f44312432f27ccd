/**
 * Debian's /usr/bin/ipython3 in a real pseudo-terminal, with the Python client importable
 * (PYTHONPATH=engines/python) and a private IPYTHONDIR: tests type cells at its prompt, as a
 * user would, and read what it printed. `--simple-prompt` keeps the screen plain text (no
 * prompt_toolkit redraws), so the output is the bytes written, escape codes stripped.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { stripVTControlCharacters } from 'node:util';
import pty from '@lydell/node-pty';
import { requireExecutable } from './fixtureRequirements.ts';
import { repoRoot } from '../console/pty.ts';

export const IPYTHON = '/usr/bin/ipython3';


export class IPythonSession {
  readonly proc: pty.IPty;
  readonly exited: Promise<{ exitCode: number; signal?: number }>;
  private done = false;
  private readonly ipythonDir: string;
  /** Everything printed so far, escape codes stripped. */
  output = '';

  /** `env` adds to the environment (MULTIENGINE_DIR for Client() to find the test cluster). */
  constructor(env: Record<string, string>) {
    requireExecutable(IPYTHON, 'ipython3', 'the IPython sessions');
    this.ipythonDir = fs.mkdtempSync(path.join(os.tmpdir(), 'multiengine-ipython-'));
    const full: Record<string, string> = {};
    for (const [k, v] of Object.entries(process.env)) if (v !== undefined) full[k] = v;
    Object.assign(full, {
      PYTHONPATH: path.join(repoRoot, 'engines', 'python'),
      IPYTHONDIR: this.ipythonDir,
      TERM: 'dumb',
      NO_COLOR: '1',
      ...env,
    });
    const args = ['--simple-prompt', '--colors=NoColor', '--no-banner', '--no-confirm-exit', '--HistoryManager.hist_file=:memory:'];
    this.proc = pty.spawn(IPYTHON, args, { name: 'dumb', cols: 200, rows: 50, cwd: repoRoot, env: full });
    this.proc.onData((d) => {
      // Without escape codes, and without the carriage returns a pty adds before each newline.
      this.output += stripVTControlCharacters(d).replace(/\r/g, '');
    });
    this.exited = new Promise((resolve) => {
      this.proc.onExit((e) => {
        this.done = true;
        resolve(e);
      });
    });
  }

  get pid(): number {
    return this.proc.pid;
  }

  /** Polls the output (from character `from`) until `pattern` shows; throws with the output after `timeoutMs`. */
  async waitFor(pattern: RegExp, from = 0, timeoutMs = 30_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const text = this.output.slice(from);
      if (pattern.test(text)) return text;
      if (this.done || Date.now() > deadline) {
        const why = this.done ? 'ipython3 exited' : `${timeoutMs} ms passed`;
        throw new Error(`waiting for ${pattern}: ${why}; ipython3 printed:\n${this.output}`);
      }
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  /** Waits for the first prompt. */
  async ready(): Promise<void> {
    await this.waitFor(/In \[1\]: $/);
  }

  /**
   * Types a cell (one line, or several; a multi-line cell gets the blank line that ends it),
   * waits for the next `In [n]: ` prompt and returns what was printed in between, the echo of
   * the typed lines removed.
   */
  async run(cell: string, timeoutMs = 60_000): Promise<string> {
    const from = this.output.length;
    const lines = cell.split('\n');
    if (lines.length > 1) lines.push('');
    // One line at a time, each after its prompt, so the echo and the prompts stay in order.
    let at = from;
    for (const [i, l] of lines.entries()) {
      at = this.output.length;
      this.proc.write(l + '\r');
      if (i < lines.length - 1) await this.waitFor(/\.\.\.: $/, at, timeoutMs);
    }
    // A cell magic (%%px) at the simple prompt ends with a second blank line.
    const next = /(?:^|\n)In \[\d+\]: $|\.\.\.: $/;
    if (/\.\.\.: $/.test(await this.waitFor(next, at, timeoutMs))) {
      lines.push('');
      this.proc.write('\r');
    }
    const text = await this.waitFor(/(?:^|\n)In \[\d+\]: $/, from, timeoutMs);
    return stripEcho(text.replace(/In \[\d+\]: $/, ''), lines);
  }

  /** Sends SIGINT to ipython3, as Ctrl-C at the terminal does. */
  interrupt(): void {
    process.kill(this.proc.pid, 'SIGINT');
  }

  async close(): Promise<void> {
    if (!this.done) {
      this.proc.write('exit\r');
      const quit = await Promise.race([this.exited.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 10_000))]);
      if (!quit) this.proc.kill('SIGKILL');
      await this.exited;
    }
    fs.rmSync(this.ipythonDir, { recursive: true, force: true });
  }
}

/** The output without the terminal's echo of the typed lines and their `...:` prompts. */
function stripEcho(text: string, typed: string[]): string {
  const out = text.split('\n');
  let i = 0;
  for (const line of typed) {
    if (i < out.length && out[i].replace(/^\s*\.\.\.: ?/, '').trimEnd() === line.trimEnd()) i++;
  }
  return out.slice(i).join('\n');
}
