/**
 * Watching a running AsyncResult at the prompt: its output streams to the screen as it
 * arrives (each line labelled `[stdout:0]`), a progress line appears once the run has
 * lasted a second, and Ctrl-C interrupts the engines still running it.
 */
import type { AsyncResult, Disposable, OutputEvent } from '../client/asyncResult.js';
import { formatProgress, labelLines } from './render.js';
import type { Screen } from './screen.js';

export interface WatchOptions {
  /** Print the engines' output as it comes. */
  stream: boolean;
  /** Sends interrupt_request to these engines. */
  interrupt(engineIds: number[]): Promise<void>;
  /** The progress line appears after this long (default 1 s). */
  progressAfterMs?: number;
  /** After a Ctrl-C, how long to wait for the engines to answer before the prompt comes back anyway. */
  graceMs?: number;
}

/** 'done': every engine answered. 'abandoned': the prompt came back before they did. */
export type WatchEnd = 'done' | 'abandoned';

/** A partial line is shown on its own after this long without its end. */
const PARTIAL_LINE_MS = 250;

export class Watch {
  readonly ended: Promise<WatchEnd>;
  private finish!: (end: WatchEnd) => void;
  private finished = false;
  private interrupts = 0;
  private readonly partial = new Map<string, { engineId: number; name: 'stdout' | 'stderr'; text: string }>();
  private partialTimer: NodeJS.Timeout | undefined;
  private progressTimer: NodeJS.Timeout | undefined;
  private graceTimer: NodeJS.Timeout | undefined;
  private listener: Disposable | undefined;

  constructor(
    private readonly ar: AsyncResult<unknown>,
    private readonly screen: Screen,
    private readonly opts: WatchOptions,
  ) {
    this.ended = new Promise<WatchEnd>((resolve) => (this.finish = resolve));
    if (opts.stream) this.listener = ar.onDidReceiveOutput((ev) => this.onOutput(ev));
    const after = opts.progressAfterMs ?? 1000;
    if (screen.live) {
      this.progressTimer = setInterval(() => {
        if (ar.elapsedMs >= after) this.screen.progress(formatProgress(ar.progress, ar.engineIds.length, ar.elapsedMs, this.screen.style));
      }, 100);
    }
    void ar.wait().then(() => this.end('done'));
  }

  /** Ctrl-C: interrupts the engines still running; a second Ctrl-C (or the grace time) gives the prompt back. */
  interrupt(): void {
    if (this.finished) return;
    this.interrupts++;
    const pending = this.ar.metadata.filter((m) => m.status === 'pending').map((m) => m.engineId);
    if (pending.length) {
      this.screen.write(this.screen.style.yellow(`^C interrupting engine${pending.length === 1 ? '' : 's'} ${pending.join(', ')}`) + '\n');
      this.opts.interrupt(pending).catch((e: unknown) => this.screen.write(this.screen.style.red(`could not interrupt: ${(e as Error).message}`) + '\n'));
    }
    if (this.interrupts >= 2) {
      this.end('abandoned');
    } else {
      clearTimeout(this.graceTimer);
      this.graceTimer = setTimeout(() => this.end('abandoned'), this.opts.graceMs ?? 5000);
    }
  }

  private onOutput(ev: OutputEvent): void {
    const key = `${ev.engineId}:${ev.name}`;
    const held = this.partial.get(key);
    const text = (held?.text ?? '') + ev.text;
    const cut = text.lastIndexOf('\n');
    if (cut >= 0) this.screen.write(labelLines(ev.name, ev.engineId, text.slice(0, cut + 1), this.screen.style));
    const rest = text.slice(cut + 1);
    if (rest === '') {
      this.partial.delete(key);
    } else {
      this.partial.set(key, { engineId: ev.engineId, name: ev.name, text: rest });
      clearTimeout(this.partialTimer);
      this.partialTimer = setTimeout(() => this.flushPartial(), PARTIAL_LINE_MS);
    }
  }

  private flushPartial(): void {
    for (const p of this.partial.values()) this.screen.write(labelLines(p.name, p.engineId, p.text + '\n', this.screen.style));
    this.partial.clear();
  }

  private end(how: WatchEnd): void {
    if (this.finished) return;
    this.finished = true;
    this.listener?.dispose();
    clearInterval(this.progressTimer);
    clearTimeout(this.graceTimer);
    clearTimeout(this.partialTimer);
    this.flushPartial();
    this.screen.progress(null);
    this.finish(how);
  }
}
