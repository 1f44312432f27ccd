/**
 * IPython session transcripts as the tutorials print them: `In [n]: code` (continued by
 * `   ...: ` lines), then what IPython printed, up to the next `In [`. Expected output may use
 * `...` for any text within a line, and a line of only `...` for any number of lines (values
 * that differ between runs: pids, random numbers, traceback frames).
 */

export interface Cell {
  /** The prompt number in the transcript. */
  n: number;
  input: string;
  expected: string;
}

export function parseTranscript(text: string): Cell[] {
  const cells: Cell[] = [];
  let cur: { n: number; input: string[]; out: string[] } | undefined;
  let inInput = false;
  const close = () => {
    if (cur) cells.push({ n: cur.n, input: cur.input.join('\n'), expected: trimBlank(cur.out.join('\n')) });
  };
  for (const line of text.split('\n')) {
    const start = /^In \[(\d+)\]: ?(.*)$/.exec(line);
    if (start) {
      close();
      cur = { n: Number(start[1]), input: [start[2]], out: [] };
      inInput = true;
      continue;
    }
    if (!cur) continue; // a heading or comment before the first prompt
    const more = /^\s+\.\.\.: ?(.*)$/.exec(line);
    if (inInput && more) {
      cur.input.push(more[1]);
      continue;
    }
    inInput = false;
    cur.out.push(line);
  }
  close();
  // A multi-line cell ends at its blank continuation line, which the session types itself.
  for (const c of cells) c.input = c.input.replace(/\n+$/, '');
  return cells;
}

function trimBlank(s: string): string {
  return s
    .split('\n')
    .map((l) => l.trimEnd())
    .join('\n')
    .replace(/^\n+|\n+$/g, '');
}

function lineRegex(expected: string): RegExp {
  const parts = expected.split('...').map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
  return new RegExp(`^${parts.join('.*?')}$`);
}

/**
 * Streamed output in engine order: each run of `[stdout:N]`/`[stderr:N]` lines sorted by engine
 * id, each engine's lines kept in their order. The engines' output is printed as it arrives, so
 * engine 3's first line may come before engine 2's.
 */
export function byEngine(text: string): string {
  const lines = text.split('\n');
  const engine = (l: string) => /^\[std(?:out|err):(\d+)\]/.exec(l)?.[1];
  for (let i = 0; i < lines.length; ) {
    let j = i;
    while (j < lines.length && engine(lines[j]) !== undefined) j++;
    if (j > i) {
      const run = lines.slice(i, j).map((l, k) => ({ l, k, id: Number(engine(l)) }));
      run.sort((x, y) => x.id - y.id || x.k - y.k);
      lines.splice(i, j - i, ...run.map((r) => r.l));
    }
    i = j + 1;
  }
  return lines.join('\n');
}

/** Whether `actual` (IPython's output) matches `expected` (the transcript's), line by line, streamed output in engine order. */
export function matchesTranscript(actual: string, expected: string): boolean {
  const a = byEngine(trimBlank(actual)).split('\n');
  const e = trimBlank(expected).split('\n');
  const match = (i: number, j: number): boolean => {
    if (j === e.length) return i === a.length || (a.length === 1 && a[0] === '' && e.length === 1 && e[0] === '');
    if (e[j] === '...') {
      for (let k = i; k <= a.length; k++) if (match(k, j + 1)) return true;
      return false;
    }
    return i < a.length && lineRegex(e[j]).test(a[i]) && match(i + 1, j + 1);
  };
  if (e.length === 1 && e[0] === '') return a.length === 1 && a[0] === '';
  return match(0, 0);
}
