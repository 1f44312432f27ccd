/**
 * Controller logging: everything goes to stderr (stdout carries only the ready line), and to the
 * profile's log file once the controller opened it (logFile.ts).
 * Debug lines appear when MULTIENGINE_DEBUG is set. Warnings that bad peers can trigger
 * at will (dropped frames, ...) are rate-limited so a flood cannot flood the log too.
 */

import { RotatingLogFile } from './logFile.js';

const debugEnabled = !!process.env.MULTIENGINE_DEBUG;
let file: RotatingLogFile | null = null;

/** Whole lines, to stderr and the log file. */
function out(text: string): void {
  file?.write(text);
  try {
    process.stderr.write(text);
  } catch {
    /* stderr gone (daemon whose parent closed the pipe): nothing to do */
  }
}

function write(level: string, text: string): void {
  out(`[controller] ${level}${text}\n`);
}

const limited = new Map<string, number>();

export const log = {
  debugEnabled,
  /** Also writes the log to `path` from now on (a warning on stderr when it cannot). */
  toFile(path: string): void {
    try {
      file = new RotatingLogFile(path);
      process.on('exit', () => file?.close());
    } catch (e) {
      write('warning: ', `no log file: ${(e as Error).message}`);
    }
  },
  /** Lines relayed as they are ("[engine 3] ..."): engines' own output. */
  relay(lines: string): void {
    out(lines);
  },
  debug(text: string): void {
    if (debugEnabled) write('debug: ', text);
  },
  info(text: string): void {
    write('', text);
  },
  warn(text: string): void {
    write('warning: ', text);
  },
  error(text: string): void {
    write('error: ', text);
  },
  /** Logs the first 20 warnings of a kind, then one in 1000 with the running count. */
  warnLimited(kind: string, text: string): void {
    const n = (limited.get(kind) ?? 0) + 1;
    limited.set(kind, n);
    if (n <= 20) write('warning: ', text);
    else if (n % 1000 === 0) write('warning: ', `${text} (${n} so far of this kind)`);
  },
};
