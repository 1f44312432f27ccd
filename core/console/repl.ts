/**
 * The prompt: reads lines with node:readline (line editing, history, Tab completion),
 * runs magics on the engines and everything else locally, one input at a time. Lines
 * typed while something runs wait their turn; Ctrl-C stops what runs (interrupting the
 * engines for %px), or clears the line at the prompt; Ctrl-D at an empty prompt ends.
 */
import readline from 'node:readline';
import type { Client } from '../client/client.js';
import { AsyncResult } from '../client/asyncResult.js';
import { DirectView } from '../client/directView.js';
import { complete, type CompleterResult } from './complete.js';
import { compile, isInterrupted, isThenable, runCompiled, type Compiled } from './evaluate.js';
import type { History } from './history.js';
import type { ControlTargets } from './control.js';
import { formatTargets, HELP, opensBlock, parseLine, type PxOptions } from './magics.js';
import { formatError, formatOutcome, formatOutput, formatTraceback, formatValue, outcomeOf, type Outcome, type Style } from './render.js';
import { Screen, type Output } from './screen.js';
import { Watch } from './watch.js';

export interface ConsoleOptions {
  rc: Client;
  /** The view the magics run on when the global `dview` is not a view any more. */
  view: DirectView;
  input: NodeJS.ReadableStream & { isTTY?: boolean; setRawMode?: (on: boolean) => unknown };
  output: NodeJS.WritableStream & Output;
  style: Style;
  history?: History;
  /** After a Ctrl-C, how long to wait for interrupted engines before the prompt comes back anyway. */
  graceMs?: number;
  /** The prompt names the %px targets even when they are all engines (in the app, whose selection sets them). */
  showAllTargets?: boolean;
}

interface PxRun {
  /** The input number (In [n]) that ran it. */
  n: number;
  code: string;
  ar: AsyncResult<unknown>;
}

type Cell = { kind: 'px'; opts: PxOptions; lines: string[] } | { kind: 'js'; lines: string[] };

type Waited = Outcome | { abandoned: true };

export class Console {
  private readonly rl: readline.Interface;
  private readonly screen: Screen;
  private readonly style: Style;
  private readonly terminal: boolean;
  private queue: string[] = [];
  private busy = false;
  private closed = false;
  private started = false;
  private cell: Cell | null = null;
  private autopx = false;
  private count = 1;
  private readonly pxRuns: PxRun[] = [];
  private lastError: unknown = undefined;
  /** What Ctrl-C does while something runs. */
  private onInterrupt: (() => void) | null = null;
  /** Stops waiting for a local promise (set while one is awaited). */
  private giveUp: (() => void) | null = null;
  /** Why the session was ended from outside (end()), printed once the input that runs has ended. */
  private farewell: { line: string; newline: boolean } | undefined;
  private resolveFinished!: () => void;
  /** Resolves when the input has ended (Ctrl-D or end of file) and the last input has run. */
  readonly finished = new Promise<void>((resolve) => (this.resolveFinished = resolve));
  private readonly onProcessSigint = () => this.sigint();

  constructor(private readonly opts: ConsoleOptions) {
    this.style = opts.style;
    this.screen = new Screen(opts.output, opts.style);
    this.terminal = opts.output.isTTY === true && opts.input.isTTY === true;
    this.rl = readline.createInterface({
      input: opts.input,
      output: opts.output,
      terminal: this.terminal,
      history: this.terminal ? (opts.history?.load() ?? []) : [],
      historySize: 1000,
      tabSize: 4,
      completer: (line: string, cb: (err: null, result: CompleterResult) => void) => {
        this.completions(line).then(
          (r) => cb(null, r),
          () => cb(null, [[], line]),
        );
      },
    });
    this.rl.on('line', (line) => {
      if (this.terminal) this.opts.history?.add(line);
      this.queue.push(line);
      void this.pump();
    });
    this.rl.on('SIGINT', () => this.sigint());
    this.rl.on('close', () => {
      this.closed = true;
      if (this.cell) this.queue.push('');
      void this.pump();
    });
    // A real SIGINT (input not a terminal, or Ctrl-C while local code runs) must never kill the console.
    process.on('SIGINT', this.onProcessSigint);
  }

  /** Prints `banner` and the first prompt. */
  start(banner: string): void {
    this.screen.write(banner);
    this.started = true;
    this.showPrompt();
  }

  /**
   * Sets the %px targets (the app's selection, through its side channel): the next line that
   * runs uses them. At the prompt, the prompt is redrawn in place with them, keeping a
   * half-typed line as it is; nothing enters the transcript.
   */
  setTargets(t: ControlTargets): void {
    this.activeView().targets = t;
    if (this.atPrompt()) this.showPrompt();
  }

  /** A line on stderr; at the prompt it goes above the prompt, which is drawn again below it. */
  warn(line: string): void {
    const out = this.opts.output;
    if (!this.atPrompt() || !this.terminal) {
      process.stderr.write(line + '\n');
      return;
    }
    readline.moveCursor(out, 0, -this.rl.getCursorPos().rows);
    readline.cursorTo(out, 0);
    readline.clearScreenDown(out);
    process.stderr.write(line + '\n');
    // The cursor is now at the start of a fresh row: readline must not move up to where its prompt was.
    (this.rl as unknown as { prevRows: number }).prevRows = 0;
    this.showPrompt();
  }

  private atPrompt(): boolean {
    return this.started && !this.busy && !this.closed;
  }

  /** Ends the session as Ctrl-D would. */
  close(): void {
    this.rl.close();
  }

  /**
   * Ends the session because the controller went away: `line` (on stderr) says why, after what
   * runs now has ended. Lines typed ahead, an unfinished cell and %autopx are dropped, a local
   * await is given up, and readline gives the terminal back in its normal mode.
   */
  end(line: string): void {
    if (this.farewell) return;
    // At the prompt the cursor sits after it: the line goes below.
    this.farewell = { line, newline: this.atPrompt() && this.terminal };
    this.queue = [];
    this.cell = null;
    this.autopx = false;
    this.giveUp?.();
    this.rl.close();
  }

  // ---- the loop

  private async pump(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      while (this.queue.length) {
        const line = this.queue.shift()!;
        try {
          await this.handle(line);
        } catch (e) {
          this.showError(e);
        }
      }
    } finally {
      this.busy = false;
    }
    if (this.closed) {
      process.off('SIGINT', this.onProcessSigint);
      if (this.farewell) process.stderr.write((this.farewell.newline ? '\n' : '') + this.farewell.line + '\n');
      else if (this.terminal) this.opts.output.write('\n');
      this.resolveFinished();
    } else {
      this.showPrompt();
    }
  }

  private promptText(): string {
    const s = this.style;
    const tag = this.autopx ? '[autopx] ' : '';
    const targets = this.targetsTag();
    const plain = `${tag}In [${this.count}]${targets}: `;
    if (this.cell) return s.green(`${' '.repeat(Math.max(0, plain.length - 5))}...: `);
    return (this.autopx ? s.magenta(tag) : '') + s.green('In [') + s.bold(s.green(String(this.count))) + s.green(']') + s.cyan(targets) + s.green(': ');
  }

  /** ` px[0,2]`: the engines %px runs on; empty for all engines unless showAllTargets. */
  private targetsTag(): string {
    const t = this.activeView().targets;
    if ((t === undefined || t === 'all') && !this.opts.showAllTargets) return '';
    return ` px[${formatTargets(t)}]`;
  }

  /** The prompt; none when the input is not a terminal (lines piped in), so the output is only results. */
  private showPrompt(): void {
    if (!this.opts.input.isTTY) return;
    this.rl.setPrompt(this.promptText());
    this.rl.prompt(true);
  }

  private sigint(): void {
    if (this.onInterrupt) {
      // Something runs: stop it, and drop the lines typed ahead.
      this.queue = [];
      this.onInterrupt();
      return;
    }
    if (this.busy) return;
    // At the prompt: drop the line (and an unfinished cell) and prompt again.
    this.cell = null;
    if (this.terminal) {
      this.rl.write(null, { ctrl: true, name: 'e' });
      this.opts.output.write(this.style.dim('^C'));
      const rl = this.rl as unknown as { clearLine?: () => void };
      if (typeof rl.clearLine === 'function') rl.clearLine();
      else this.rl.write(null, { ctrl: true, name: 'u' });
    } else {
      this.opts.output.write('\n');
    }
    this.showPrompt();
  }

  // ---- one input

  private async handle(line: string): Promise<void> {
    if (this.cell) return this.continueCell(this.cell, line);
    const cmd = parseLine(line);
    if (cmd.kind === 'code' && line.trim() === '') return;
    const n = this.count++;
    switch (cmd.kind) {
      case 'px':
        return this.runPx(n, cmd.code, cmd.opts);
      case 'pxCell':
        this.cell = { kind: 'px', opts: cmd.opts, lines: [] };
        this.count = n; // the cell's number is taken when it runs
        return;
      case 'autopx':
        this.autopx = !this.autopx;
        this.screen.write((this.autopx ? 'Auto Parallel Enabled' : 'Auto Parallel Disabled') + '\n');
        return;
      case 'result':
        return this.showResult(cmd.index);
      case 'tb':
        this.screen.write(this.lastError === undefined ? this.style.dim('no error yet') + '\n' : formatTraceback(this.lastError, this.style));
        return;
      case 'help':
        this.screen.write(HELP + '\n');
        return;
      case 'error':
        this.screen.write(this.style.red(cmd.message) + '\n');
        return;
      case 'code':
        if (this.autopx) {
          if (opensBlock(line)) {
            this.cell = { kind: 'px', opts: { block: true }, lines: [line] };
            this.count = n;
            return;
          }
          return this.runPx(n, line, { block: true });
        }
        return this.runLocal(n, line);
    }
  }

  private async continueCell(cell: Cell, line: string): Promise<void> {
    if (cell.kind === 'px') {
      if (line.trim() !== '') {
        cell.lines.push(line);
        return;
      }
      this.cell = null;
      if (cell.lines.length === 0) return;
      return this.runPx(this.count++, cell.lines.join('\n'), cell.opts);
    }
    if (line.trim() === '') {
      // A blank line ends an unfinished statement: report it as the error it is.
      this.cell = null;
      return this.runCompiled(this.count++, compile(cell.lines.join('\n'), { force: true }));
    }
    cell.lines.push(line);
    const c = compile(cell.lines.join('\n'));
    if (c.kind === 'incomplete') return;
    this.cell = null;
    return this.runCompiled(this.count++, c);
  }

  // ---- on the engines

  /** The view the magics use: the global `dview` while it is a DirectView. */
  private activeView(): DirectView {
    const g = (globalThis as Record<string, unknown>).dview;
    return g instanceof DirectView ? g : this.opts.view;
  }

  private async runPx(n: number, code: string, opts: PxOptions): Promise<void> {
    const view = this.activeView();
    let ar: AsyncResult<unknown>;
    try {
      ar = view.execute(code, { targets: opts.targets, block: false }) as AsyncResult<unknown>;
    } catch (e) {
      this.lastError = e;
      this.showError(e);
      return;
    }
    this.pxRuns.push({ n, code, ar });
    if ((opts.targets ?? view.targets ?? 'all') === 'all') this.noteDead(ar.engineIds);
    if (!opts.block) {
      this.screen.write(this.style.dim(`[noblock] running on engine${ar.engineIds.length === 1 ? '' : 's'} ${ar.engineIds.join(', ')}; %result shows its output`) + '\n');
      return;
    }
    const end = await this.watch(ar, true);
    if (end === 'abandoned') return this.stillRunning(ar);
    this.showOutcome(await outcomeOf(ar), ar);
  }

  /** On "all", dead engines are skipped: say so, once, before the output. */
  private noteDead(ran: readonly number[]): void {
    const dead = this.opts.rc.engines.filter((e) => e.state === 'dead' && !ran.includes(e.id)).map((e) => e.id);
    if (dead.length === 0) return;
    const which = dead.length === 1 ? `engine ${dead[0]} is dead` : `engines ${dead.join(', ')} are dead`;
    this.screen.write(this.style.dim(`[note] ${which}; ran on ${ran.join(', ')}`) + '\n');
  }

  private async showResult(index: number | undefined): Promise<void> {
    const runs = this.pxRuns;
    let run: PxRun | undefined;
    if (index === undefined) run = runs[runs.length - 1];
    else if (index < 0) run = runs[runs.length + index];
    else run = runs.find((r) => r.n === index);
    if (!run) {
      const why = runs.length === 0 ? 'no %px has run yet' : index !== undefined && index >= 0 ? `In [${index}] was not a %px` : `there are only ${runs.length} %px runs`;
      this.screen.write(this.style.red(`%result: ${why}`) + '\n');
      return;
    }
    if (!run.ar.ready() && (await this.watch(run.ar, false)) === 'abandoned') {
      this.screen.write(formatOutput(run.ar, this.style));
      return this.stillRunning(run.ar);
    }
    this.screen.write(formatOutput(run.ar, this.style));
    this.showOutcome(await outcomeOf(run.ar), run.ar);
  }

  private showOutcome(outcome: Outcome, ar?: AsyncResult<unknown>): void {
    if (!outcome.ok) this.lastError = outcome.error;
    const succeeded = ar ? ar.outcomes.flatMap((o) => (o.status === 'ok' ? [o.value] : [])) : [];
    this.screen.write(formatOutcome(outcome, this.style, succeeded));
  }

  private stillRunning(ar: AsyncResult<unknown>): void {
    const pending = ar.metadata.filter((m) => m.status === 'pending').map((m) => m.engineId);
    const who = pending.length ? `engine${pending.length === 1 ? '' : 's'} ${pending.join(', ')}` : 'the engines';
    this.screen.write(this.style.yellow(`${who} did not answer yet; %result shows the outcome once they do`) + '\n');
  }

  /** Shows `ar` running (streaming its output when asked) until it is done or Ctrl-C gives up on it. */
  private async watch(ar: AsyncResult<unknown>, stream: boolean): Promise<'done' | 'abandoned'> {
    const view = this.activeView();
    const w = new Watch(ar, this.screen, { stream, graceMs: this.opts.graceMs, interrupt: (ids) => view.interrupt({ targets: ids }) });
    this.onInterrupt = () => w.interrupt();
    try {
      return await w.ended;
    } finally {
      this.onInterrupt = null;
    }
  }

  // ---- local code

  private async runLocal(n: number, source: string): Promise<void> {
    const c = compile(source);
    if (c.kind === 'incomplete') {
      this.cell = { kind: 'js', lines: [source] };
      this.count = n;
      return;
    }
    return this.runCompiled(n, c);
  }

  private async runCompiled(n: number, c: Compiled): Promise<void> {
    if (c.kind === 'incomplete') return;
    if (c.kind === 'error') {
      this.lastError = c.error;
      this.showError(c.error);
      return;
    }
    const before = new Set(this.opts.rc.outstandingResults);
    let value: unknown;
    // Synchronous code: cooked mode lets the terminal turn Ctrl-C into SIGINT, which stops it.
    this.setRawMode(false);
    try {
      value = runCompiled(c, `In[${n}]`);
    } catch (e) {
      this.lastError = e;
      // The terminal echoed ^C without a newline.
      if (isInterrupted(e)) this.screen.write((this.terminal ? '\n' : '') + this.style.yellow('Interrupted') + '\n');
      else this.showError(e);
      return;
    } finally {
      this.setRawMode(true);
    }
    if (c.isAsync) {
      const r = await this.awaitLocal(value as Promise<{ value: unknown }>, before);
      if (!this.settledOk(r)) return;
      value = (r.value as { value?: unknown } | undefined)?.value;
    }
    if (isThenable(value)) {
      const r = await this.awaitLocal(value, before);
      if (!this.settledOk(r)) return;
      value = r.value;
    }
    if (value === undefined) return;
    (globalThis as Record<string, unknown>)._ = value;
    this.screen.write(formatValue(value, this.style) + '\n');
  }

  private settledOk(r: Waited): r is { ok: true; value: unknown } {
    if ('abandoned' in r) {
      if (!this.farewell) this.screen.write(this.style.yellow('^C stopped waiting (the work it started goes on)') + '\n');
      return false;
    }
    if (!r.ok) {
      this.lastError = r.error;
      this.showError(r.error);
      return false;
    }
    return true;
  }

  /**
   * Awaits a local value. An AsyncResult shows a progress line and Ctrl-C interrupts its
   * engines; for any other promise Ctrl-C interrupts the engines of the results this input
   * started, or stops waiting when it started none (a second Ctrl-C always does).
   */
  private async awaitLocal(p: PromiseLike<unknown>, before: Set<AsyncResult<unknown>>): Promise<Waited> {
    if (p instanceof AsyncResult) {
      const end = await this.watch(p, false);
      return end === 'abandoned' ? { abandoned: true } : outcomeOf(p);
    }
    let giveUp!: () => void;
    const abandoned = new Promise<Waited>((resolve) => (giveUp = () => resolve({ abandoned: true })));
    this.giveUp = giveUp;
    let presses = 0;
    let grace: NodeJS.Timeout | undefined;
    this.onInterrupt = () => {
      presses++;
      const started = this.opts.rc.outstandingResults.filter((r) => !before.has(r));
      const byView = new Map<number, true>();
      for (const r of started) for (const m of r.metadata) if (m.status === 'pending') byView.set(m.engineId, true);
      const ids = [...byView.keys()].sort((a, b) => a - b);
      if (ids.length === 0 || presses >= 2) return giveUp();
      this.screen.write(this.style.yellow(`^C interrupting engine${ids.length === 1 ? '' : 's'} ${ids.join(', ')}`) + '\n');
      this.opts.rc
        .view(ids)
        .interrupt()
        .catch((e: unknown) => this.screen.write(this.style.red(`could not interrupt: ${(e as Error).message}`) + '\n'));
      clearTimeout(grace);
      grace = setTimeout(giveUp, this.opts.graceMs ?? 5000);
    };
    try {
      return await Promise.race([outcomeOf(p), abandoned]);
    } finally {
      clearTimeout(grace);
      this.onInterrupt = null;
      this.giveUp = null;
    }
  }

  private setRawMode(on: boolean): void {
    if (this.terminal && typeof this.opts.input.setRawMode === 'function') this.opts.input.setRawMode(on);
  }

  private showError(e: unknown): void {
    this.screen.write(formatError(e, this.style));
  }

  // ---- completion

  private completions(line: string): Promise<CompleterResult> {
    // Tab on a blank line indents (Python cells need it).
    if (line.trim() === '') return Promise.resolve([['    '], '']);
    return complete(line, { engineLine: this.autopx || this.cell?.kind === 'px', view: () => this.activeView() });
  }
}
