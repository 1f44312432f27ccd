/**
 * The controller's log as a file in its profile folder (<profile>/log/controller.log), so that
 * whoever attaches later (the app, a user with `tail -f`) can read what a controller started in
 * a terminal says, engines' relayed output included. Capped: past MAX_BYTES the file becomes
 * controller.log.1 (replacing the older one) and a new one starts. Writes are gathered and
 * written once per turn of the event loop, never one system call per line.
 */
import fs from 'node:fs';
import path from 'node:path';
import { profileDir } from '../connection/connectionFile.js';

/** Bytes of one log file; with the one rotated copy, a profile holds at most twice this. */
export const MAX_LOG_BYTES = 1024 * 1024;

/** The controller's log file of a profile folder. */
export function controllerLogPath(profileFolder: string): string {
  return path.join(profileFolder, 'log', 'controller.log');
}

export function controllerLogFile(profile: string, dir?: string): string {
  return controllerLogPath(profileDir(profile, dir));
}

export class RotatingLogFile {
  private fd: number;
  private size: number;
  private buffered: string[] = [];
  private scheduled = false;

  /** Opens (creates 0600) `file` for appending; throws when it cannot. */
  constructor(
    readonly file: string,
    private readonly maxBytes = MAX_LOG_BYTES,
  ) {
    fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    this.fd = fs.openSync(file, 'a', 0o600);
    this.size = fs.fstatSync(this.fd).size;
  }

  write(text: string): void {
    this.buffered.push(text);
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => this.flush());
  }

  /** Writes what is gathered now (also at exit); a failing disk loses lines, never the controller. */
  flush(): void {
    this.scheduled = false;
    if (this.buffered.length === 0 || this.fd < 0) return;
    const data = Buffer.from(this.buffered.join(''), 'utf8');
    this.buffered = [];
    try {
      if (this.size > 0 && this.size + data.length > this.maxBytes) this.rotate();
      fs.writeSync(this.fd, data);
      this.size += data.length;
    } catch {
      /* disk full or file gone: the log goes on on stderr */
    }
  }

  close(): void {
    this.flush();
    if (this.fd >= 0) fs.closeSync(this.fd);
    this.fd = -1;
  }

  private rotate(): void {
    fs.closeSync(this.fd);
    this.fd = -1;
    let flag = 'a';
    try {
      fs.renameSync(this.file, `${this.file}.1`);
    } catch {
      flag = 'w'; // cannot keep the old one: start over in place
    }
    this.fd = fs.openSync(this.file, flag, 0o600);
    this.size = 0;
  }
}
