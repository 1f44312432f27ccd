/**
 * The Logs view's lines: a search's answer from main, then the new lines that match the same
 * query (logLineMatches, the test main uses), within the same cap; and what is not shown, in
 * words: lines the caps dropped, and older matches past the cap.
 */
import { compareLogSources, LOG_RESULT_LINES, logLineMatches, type LogLine, type LogQuery, type LogResult, type LogSource } from '../../preload/contract';

export class LogView {
  lines: LogLine[] = [];
  /** Older matching lines not shown (past the cap). */
  more = 0;
  readonly sources = new Map<string, LogSource>();
  query: LogQuery = { from: null, text: '' };

  constructor(private readonly cap = LOG_RESULT_LINES) {}

  /** A search's answer for `q` (the query the view asked with). */
  load(q: LogQuery, r: LogResult): void {
    this.query = q;
    this.lines = r.lines;
    this.more = r.more;
    this.sources.clear();
    for (const s of r.sources) this.sources.set(s.source, s);
  }

  /** New lines from main: those the query asks for are appended. Returns whether anything shown changed. */
  append(lines: readonly LogLine[], sources: readonly LogSource[]): boolean {
    for (const s of sources) this.sources.set(s.source, s);
    const last = this.lines.at(-1)?.seq ?? 0;
    const fresh = lines.filter((l) => l.seq > last && logLineMatches(l, this.query));
    if (fresh.length === 0) return sources.length > 0;
    this.lines = this.lines.concat(fresh);
    if (this.lines.length > this.cap) {
      this.more += this.lines.length - this.cap;
      this.lines = this.lines.slice(-this.cap);
    }
    return true;
  }

  /** Lines the caps dropped from the sources shown. */
  get dropped(): number {
    if (this.query.from !== null) return this.sources.get(this.query.from)?.dropped ?? 0;
    let n = 0;
    for (const s of this.sources.values()) n += s.dropped;
    return n;
  }

  /** What the first row says about lines not shown, or null when every line is shown. */
  get marker(): string | null {
    const parts: string[] = [];
    if (this.dropped > 0) parts.push(`${this.dropped} line${this.dropped === 1 ? '' : 's'} dropped (the oldest, to keep the log within its cap)`);
    if (this.more > 0) parts.push(`${this.more} older matching line${this.more === 1 ? '' : 's'} not shown`);
    return parts.length ? parts.join(' · ') : null;
  }

  /** Source names, controller first, then engines by id. */
  get sourceNames(): string[] {
    return [...this.sources.keys()].sort(compareLogSources);
  }
}
