/**
 * The console's input history, kept in the profile directory (`console_history`, one entry
 * per line, oldest first, mode 0600). Entries are appended as they are typed, so two
 * consoles of a profile both keep theirs; the file is trimmed when it grows past twice
 * the limit.
 */
import fs from 'node:fs';
import path from 'node:path';
import { profileDir } from '../connection/connectionFile.js';

export const HISTORY_SIZE = 1000;

export function historyFile(profile: string, dir?: string): string {
  return path.join(profileDir(profile, dir), 'console_history');
}

export class History {
  private last: string | undefined;

  constructor(
    readonly file: string,
    private readonly size = HISTORY_SIZE,
  ) {}

  /** Entries newest first (readline's order), consecutive repeats dropped; [] when there is no file yet. */
  load(): string[] {
    let text: string;
    try {
      text = fs.readFileSync(this.file, 'utf8');
    } catch {
      return [];
    }
    const entries: string[] = [];
    for (const line of text.split('\n')) {
      if (line.trim() === '' || line === entries[entries.length - 1]) continue;
      entries.push(line);
    }
    if (entries.length > 2 * this.size) this.rewrite(entries.slice(-this.size));
    const kept = entries.slice(-this.size);
    this.last = kept[kept.length - 1];
    return kept.reverse();
  }

  /** Appends one entry (not blank lines, nor a repeat of the previous entry). Failing to write is not fatal. */
  add(entry: string): void {
    if (entry.trim() === '' || entry.includes('\n') || entry === this.last) return;
    this.last = entry;
    try {
      fs.mkdirSync(path.dirname(this.file), { recursive: true, mode: 0o700 });
      fs.appendFileSync(this.file, entry + '\n', { mode: 0o600 });
    } catch {
      /* a read-only profile directory costs the history, not the session */
    }
  }

  private rewrite(entries: string[]): void {
    try {
      const tmp = `${this.file}.${process.pid}.tmp`;
      fs.writeFileSync(tmp, entries.join('\n') + '\n', { mode: 0o600 });
      fs.renameSync(tmp, this.file);
    } catch {
      /* keep the long file */
    }
  }
}
