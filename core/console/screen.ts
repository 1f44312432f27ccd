/**
 * The console's output: text, plus at most one progress line at the bottom that is
 * redrawn in place. The progress line only exists on a terminal; whatever else is
 * written first erases it and then draws it again below the new text.
 */
import type { Style } from './render.js';

export interface Output {
  write(text: string): unknown;
  isTTY?: boolean;
}

export class Screen {
  private progressText: string | null = null;

  constructor(
    readonly out: Output,
    readonly style: Style,
  ) {}

  /** True when the output is a terminal (in-place updates work). */
  get live(): boolean {
    return this.out.isTTY === true;
  }

  write(text: string): void {
    if (text === '') return;
    if (this.progressText !== null) {
      this.out.write('\r\x1b[2K' + text + this.progressText);
    } else {
      this.out.write(text);
    }
  }

  /** Shows (or with null removes) the progress line. */
  progress(text: string | null): void {
    if (!this.live) return;
    if (text === null) {
      if (this.progressText !== null) this.out.write('\r\x1b[2K');
      this.progressText = null;
      return;
    }
    this.progressText = text;
    this.out.write('\r\x1b[2K' + this.progressText);
  }
}
