/**
 * The lines of the Logs view, per source ('controller', 'engine 3'), within caps: lines and
 * bytes per source, and bytes over all sources; the oldest lines go first and are counted, so
 * the view can say "N lines dropped". Pure bookkeeping and search, no I/O.
 */
import { compareLogSources, LOG_RESULT_LINES, logLineMatches, type LogLine, type LogQuery, type LogResult, type LogSource, type LogStream } from '../../preload/contract.js';

export interface LogCaps {
  /** Per source. */
  lines: number;
  bytes: number;
  /** Over all sources: past it, the largest source loses its oldest quarter. */
  totalBytes: number;
  /** A longer line is cut there, with a marker. */
  lineChars: number;
}

/** 1,000 engines that all print a lot keep at most 64 MiB here. */
export const LOG_CAPS: LogCaps = { lines: 5000, bytes: 512 * 1024, totalBytes: 64 * 1024 * 1024, lineChars: 4096 };

/** One source's lines, oldest first; `head` skips the dropped ones until they are compacted away. */
class SourceLines {
  lines: LogLine[] = [];
  head = 0;
  bytes = 0;
  dropped = 0;

  constructor(readonly source: string) {}

  get size(): number {
    return this.lines.length - this.head;
  }

  push(line: LogLine): void {
    this.lines.push(line);
    this.bytes += line.text.length;
  }

  /** Drops the oldest lines until at most `lines` lines and `bytes` bytes are left; returns the bytes freed. */
  trim(lines: number, bytes: number): number {
    let freed = 0;
    while (this.size > 0 && (this.size > lines || this.bytes > bytes)) {
      const l = this.lines[this.head++];
      this.bytes -= l.text.length;
      freed += l.text.length;
      this.dropped++;
    }
    if (this.head > 1024 && this.head * 2 > this.lines.length) {
      this.lines = this.lines.slice(this.head);
      this.head = 0;
    }
    return freed;
  }

  *live(): Iterable<LogLine> {
    for (let i = this.head; i < this.lines.length; i++) yield this.lines[i];
  }

  summary(): LogSource {
    return { source: this.source, lines: this.size, bytes: this.bytes, dropped: this.dropped };
  }
}

export class LogStore {
  private readonly sources = new Map<string, SourceLines>();
  private seq = 0;
  private total = 0;

  constructor(private readonly caps: LogCaps = LOG_CAPS) {}

  /** Keeps one line; returns it as kept (cut to the line cap). */
  add(source: string, stream: LogStream, text: string, t = Date.now()): LogLine {
    const cut = text.length > this.caps.lineChars ? `${text.slice(0, this.caps.lineChars)} … [${text.length - this.caps.lineChars} more characters]` : text;
    const line: LogLine = { seq: ++this.seq, t, source, stream, text: cut };
    let s = this.sources.get(source);
    if (!s) {
      s = new SourceLines(source);
      this.sources.set(source, s);
    }
    s.push(line);
    this.total += cut.length;
    this.total -= s.trim(this.caps.lines, this.caps.bytes);
    while (this.total > this.caps.totalBytes) {
      let largest = s;
      for (const x of this.sources.values()) if (x.bytes > largest.bytes) largest = x;
      this.total -= largest.trim(Infinity, Math.floor((largest.bytes * 3) / 4));
    }
    return line;
  }

  source(name: string): LogSource | undefined {
    return this.sources.get(name)?.summary();
  }

  list(): LogSource[] {
    return [...this.sources.values()].map((s) => s.summary()).sort((a, b) => compareLogSources(a.source, b.source));
  }

  get bytes(): number {
    return this.total;
  }

  /** The newest lines that match `q`, oldest first, at most `limit`. */
  search(q: LogQuery, limit = LOG_RESULT_LINES): LogResult {
    const found: LogLine[] = [];
    const from = q.from === null ? [...this.sources.values()] : [this.sources.get(q.from)].filter((s) => s !== undefined);
    for (const s of from) for (const l of s.live()) if (logLineMatches(l, q)) found.push(l);
    if (from.length > 1) found.sort((a, b) => a.seq - b.seq);
    const more = Math.max(0, found.length - limit);
    return { lines: more > 0 ? found.slice(more) : found, more, sources: this.list() };
  }

  clear(): void {
    this.sources.clear();
    this.total = 0;
  }
}
