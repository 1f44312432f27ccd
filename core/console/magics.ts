/**
 * The console's magics, parsed: `%px`, `%%px`, `%autopx`, `%result`, `%tb` and `%help`.
 * A line is a magic when it starts with `%` (no JavaScript or Python line can). Parsing is
 * pure; repl.ts runs what it returns.
 */

export interface PxOptions {
  /** Engines for this run only; undefined means the active view's targets. */
  targets?: number[] | 'all';
  /** Wait for the engines and show their output (default), or return the prompt at once. */
  block: boolean;
}

export type Command =
  | { kind: 'px'; code: string; opts: PxOptions }
  /** `%%px [options]`: the lines that follow, up to a blank line, are the cell. */
  | { kind: 'pxCell'; opts: PxOptions }
  | { kind: 'autopx' }
  | { kind: 'result'; index?: number }
  | { kind: 'tb' }
  | { kind: 'help' }
  | { kind: 'error'; message: string }
  /** Not a magic: code for the local prompt (or, in autopx mode, for the engines). */
  | { kind: 'code'; code: string };

export const MAGICS = ['%px', '%%px', '%autopx', '%result', '%tb', '%help'] as const;

export const HELP = `Magics (they run on the active view, dview):
  %px CODE                      run CODE on the engines, each in its own language; output streams as it comes
  %px --targets 0,2 CODE        only on engines 0 and 2 (also: 1-3, all); --noblock returns the prompt at once
  %%px [--targets 0,2] [--block|--noblock]
                                a multi-line cell: the following lines, ended by a blank line
  %autopx                       toggle sending every line to the engines (the prompt shows [autopx])
  %result [N]                   show the output of the last %px again (or of the %px typed at In [N])
  %tb                           the full tracebacks of the last error
Ctrl-C interrupts the engines while %px runs, clears the line at the prompt; Ctrl-D exits.
Local lines are JavaScript or TypeScript with top-level await; a Promise or AsyncResult is awaited.`;

export class MagicError extends Error {}

/** `0,2`, `1-3`, `all`, or a mix (`0,2-4`): engine ids in the order given, without repeats. */
export function parseTargets(text: string): number[] | 'all' {
  const t = text.trim();
  if (t === 'all' || t === '*') return 'all';
  if (t === '') throw new MagicError('--targets needs engine ids, e.g. --targets 0,2 or --targets 1-3');
  const ids: number[] = [];
  for (const part of t.split(',')) {
    const m = /^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$/.exec(part);
    if (!m) throw new MagicError(`--targets: ${JSON.stringify(part.trim())} is not an engine id or a range like 1-3`);
    const first = Number(m[1]);
    const last = m[2] === undefined ? first : Number(m[2]);
    if (last < first) throw new MagicError(`--targets: the range ${first}-${last} runs backwards`);
    for (let i = first; i <= last; i++) if (!ids.includes(i)) ids.push(i);
  }
  return ids;
}

/** The inverse of parseTargets, for the prompt: `all`, `2`, `0,2`, `0-3,5` (runs of three or more as ranges). */
export function formatTargets(t: number | readonly number[] | 'all' | undefined): string {
  if (t === undefined || t === 'all') return 'all';
  if (typeof t === 'number') return String(t);
  const parts: string[] = [];
  for (let i = 0; i < t.length; ) {
    let j = i;
    while (j + 1 < t.length && t[j + 1] === t[j] + 1) j++;
    if (j - i >= 2) parts.push(`${t[i]}-${t[j]}`);
    else for (let k = i; k <= j; k++) parts.push(String(t[k]));
    i = j + 1;
  }
  return parts.join(',');
}

/**
 * The options at the start of `text` (`--targets X`, `--targets=X`, `--block`, `--noblock`),
 * and the code after them. Anything else is code, so `%px --x` reaches the engines unchanged.
 */
export function parsePxArgs(text: string): { opts: PxOptions; code: string } {
  const opts: PxOptions = { block: true };
  let rest = text.replace(/^\s+/, '');
  for (;;) {
    let m: RegExpExecArray | null;
    if ((m = /^--targets(?:=|\s+)(\S+)(?:\s+|$)/.exec(rest))) {
      opts.targets = parseTargets(m[1]);
    } else if (/^--targets\s*$/.test(rest)) {
      throw new MagicError('--targets needs engine ids, e.g. --targets 0,2 or --targets 1-3');
    } else if ((m = /^--(no)?block(?:\s+|$)/.exec(rest))) {
      opts.block = m[1] === undefined;
    } else {
      break;
    }
    rest = rest.slice(m[0].length);
  }
  return { opts, code: rest };
}

/** What a line typed at a fresh prompt means. */
export function parseLine(line: string): Command {
  const trimmed = line.trim();
  if (!trimmed.startsWith('%')) return { kind: 'code', code: line };
  const m = /^(%%?[A-Za-z_]\w*)(?:\s+([\s\S]*))?$/.exec(trimmed);
  if (!m) return { kind: 'error', message: `not a magic: ${trimmed} (try %help)` };
  const [, name, arg = ''] = m;
  try {
    switch (name) {
      case '%px': {
        const { opts, code } = parsePxArgs(arg);
        if (code.trim() === '') return { kind: 'error', message: 'usage: %px [--targets 0,2] [--block|--noblock] CODE' };
        return { kind: 'px', code, opts };
      }
      case '%%px': {
        const { opts, code } = parsePxArgs(arg);
        if (code.trim() !== '') return { kind: 'error', message: `%%px takes only options on its first line (--targets, --block, --noblock), got ${JSON.stringify(code.trim())}; the code goes on the following lines` };
        return { kind: 'pxCell', opts };
      }
      case '%autopx':
        if (arg.trim() !== '') return { kind: 'error', message: '%autopx takes no arguments: it toggles the mode' };
        return { kind: 'autopx' };
      case '%result': {
        const a = arg.trim();
        if (a === '') return { kind: 'result' };
        if (!/^-?\d+$/.test(a)) return { kind: 'error', message: `usage: %result [N], where N is the number of an input (In [N]) or -1, -2, … for the last %px runs; got ${JSON.stringify(a)}` };
        return { kind: 'result', index: Number(a) };
      }
      case '%tb':
        return { kind: 'tb' };
      case '%help':
      case '%magic':
        return { kind: 'help' };
      default:
        return { kind: 'error', message: `unknown magic ${name}; the magics are ${MAGICS.join(', ')}` };
    }
  } catch (e) {
    if (e instanceof MagicError) return { kind: 'error', message: `${name}: ${e.message}` };
    throw e;
  }
}

/**
 * In autopx mode a line that opens a block (a Python `for …:`, a JavaScript `{`, an open
 * bracket or a trailing backslash) starts a cell that a blank line ends, as %%px does.
 */
export function opensBlock(line: string): boolean {
  const t = line.replace(/\s+$/, '');
  if (/[:{([,\\]$/.test(t)) return true;
  let depth = 0;
  for (const ch of t.replace(/(["'`])(?:\\.|(?!\1).)*\1/g, '')) {
    if ('([{'.includes(ch)) depth++;
    else if (')]}'.includes(ch)) depth--;
  }
  return depth > 0;
}
