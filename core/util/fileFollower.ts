/**
 * Follows a file another process appends to (a batch job's output file, the controller's log):
 * polls it and hands on each new whole line. A file that shrank or was replaced (rotated) is read
 * again from its start; a file that does not exist yet is waited for.
 */
import fs from 'node:fs';
import { StringDecoder } from 'node:string_decoder';
import { LineSplitter } from './lines.js';

/** Bytes read per look at most: a huge burst is read over several polls. */
const READ_CHUNK = 1024 * 1024;

export interface FileFollowerOptions {
  /** How often the file is looked at. */
  pollMs: number;
  /** Where to start in a file that exists when following starts: its last `fromEnd` bytes (0: from its end, Infinity: whole). */
  fromEnd?: number;
}

export class FileFollower {
  private offset = -1;
  private ino = -1;
  private readonly lines = new LineSplitter();
  private decoder = new StringDecoder('utf8');
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  /** Started in the middle of a file: its first line is a piece, left out. */
  private skipPartialLine = false;

  constructor(
    readonly file: string,
    private readonly onLine: (line: string) => void,
    private readonly opts: FileFollowerOptions,
  ) {}

  start(): this {
    this.readNew(true);
    this.schedule();
    return this;
  }

  /** Reads what was added since the last look (also called by the poll). */
  readNew(first = false): void {
    let fd: number;
    try {
      fd = fs.openSync(this.file, 'r');
    } catch {
      return; // not there (yet, or while it is rotated)
    }
    try {
      const st = fs.fstatSync(fd);
      if (st.ino !== this.ino || st.size < this.offset) {
        // A new file (rotated, or truncated): from its start, except the first time where asked.
        const skipTo = first && this.opts.fromEnd !== undefined ? Math.max(0, st.size - this.opts.fromEnd) : 0;
        this.ino = st.ino;
        this.offset = skipTo;
        this.lines.end();
        this.decoder = new StringDecoder('utf8');
        if (skipTo > 0) this.skipPartialLine = true;
      }
      // One chunk per look: a file that grows by gigabytes never holds up the event loop.
      if (this.offset < st.size) {
        const length = Math.min(st.size - this.offset, READ_CHUNK);
        const buf = Buffer.alloc(length);
        const n = fs.readSync(fd, buf, 0, length, this.offset);
        this.offset += n;
        this.take(this.decoder.write(buf.subarray(0, n)));
      }
    } finally {
      fs.closeSync(fd);
    }
  }

  /** Stops polling; a last partial line (no newline yet) is handed on. */
  stop(): void {
    if (this.stopped) return;
    this.readNew();
    this.stopped = true;
    clearTimeout(this.timer);
    const rest = this.lines.end();
    if (rest) this.onLine(rest);
  }

  private take(text: string): void {
    const lines = this.lines.push(text);
    if (this.skipPartialLine && lines.length) {
      lines.shift();
      this.skipPartialLine = false;
    }
    for (const l of lines) this.onLine(l.endsWith('\r') ? l.slice(0, -1) : l);
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.readNew();
      this.schedule();
    }, this.opts.pollMs);
    this.timer.unref();
  }
}
