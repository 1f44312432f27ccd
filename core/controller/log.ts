/**
 * Controller logging: everything goes to stderr (stdout carries only the ready line).
 * Debug lines appear when MULTIENGINE_DEBUG is set. Warnings that bad peers can trigger
 * at will (dropped frames, ...) are rate-limited so a flood cannot flood the log too.
 */

const debugEnabled = !!process.env.MULTIENGINE_DEBUG;

function write(level: string, text: string): void {
  try {
    process.stderr.write(`[controller] ${level}${text}\n`);
  } catch {
    /* stderr gone (daemon whose parent closed the pipe): nothing to do */
  }
}

const limited = new Map<string, number>();

export const log = {
  debugEnabled,
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
