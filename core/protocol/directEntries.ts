/**
 * The entries of a task_report (protocol section 13): one JSON array of positional
 * DirectTaskEntry in the message's buffer. Read where the records are made (the controller's
 * database thread, or its loop for a memory store), so the check is there: each entry's fields,
 * named by position and field, or a WireError. `session` and `code` may be SAME (0): the value of
 * the entry before, in the same report (a burst from one client runs one function over and over),
 * which the reader puts back. Runtime-free, like validate.ts.
 */
import { DIRECT_ENTRY_FIELDS, DIRECT_ENTRY_REQUIRED, type DirectTaskEntry } from './messages.js';
import { describe, isCount, WireError } from './validate.js';

/** In place of `session` or `code`: as in the entry before. */
export const SAME = 0;
const STATUSES: ReadonlySet<unknown> = new Set(['ok', 'error', 'aborted']);
/** Positions that are strings in every entry; the rest of the first DIRECT_ENTRY_REQUIRED are nullable strings, status or a count. */
const STRINGS = [0, 1, 4, 5, 6];
const NULLABLE = [3, 10, 11, 12, 13, 14];
/** Positions that may be SAME: session, code. */
const SESSION = 2;
const CODE = 9;
const decoder = new TextDecoder();

/** An entry as sent: session and code may be SAME. */
export type SentEntry = (string | number | null | undefined)[];

/** One entry as JSON text: an engine encodes each as it comes, so a report's flush only joins them. */
export function encodeDirectEntry(entry: SentEntry | DirectTaskEntry): string {
  return JSON.stringify(entry);
}

/** A report's buffer text (one JSON array) from its entries' texts. */
export function joinDirectEntries(texts: readonly string[]): string {
  return `[${texts.join(',')}]`;
}

/** Parses and checks a report's buffer, which must hold `n` entries. */
export function directEntries(bytes: Uint8Array, n: number): DirectTaskEntry[] {
  let list: unknown;
  try {
    list = JSON.parse(decoder.decode(bytes));
  } catch (e) {
    throw new WireError(`its buffer is not JSON: ${(e as Error).message}`);
  }
  if (!Array.isArray(list)) throw new WireError(`its buffer must be an array of entries, got ${describe(list)}`);
  if (list.length !== n) throw new WireError(`n says ${n} entries, its buffer has ${list.length}`);
  for (let i = 0; i < list.length; i++) {
    const t = list[i] as unknown[];
    checkEntry(t, i);
    if (t[SESSION] === SAME || t[CODE] === SAME) {
      if (i === 0) throw new WireError(`entry 0: ${t[SESSION] === SAME ? 'session' : 'code'} cannot be ${SAME} (the same as the entry before): it is the first`);
      const before = list[i - 1] as DirectTaskEntry;
      if (t[SESSION] === SAME) t[SESSION] = before[SESSION];
      if (t[CODE] === SAME) t[CODE] = before[CODE];
    }
  }
  return list as DirectTaskEntry[];
}

function checkEntry(t: unknown, i: number): void {
  if (!Array.isArray(t) || t.length < DIRECT_ENTRY_REQUIRED || t.length > DIRECT_ENTRY_FIELDS.length) {
    throw new WireError(`entry ${i} must be an array of ${DIRECT_ENTRY_REQUIRED} to ${DIRECT_ENTRY_FIELDS.length} fields, got ${describe(t)}`);
  }
  const bad = (k: number, what: string) => new WireError(`entry ${i}: ${DIRECT_ENTRY_FIELDS[k]} must be ${what}, got ${describe(t[k])}`);
  for (const k of STRINGS) if (typeof t[k] !== 'string') throw bad(k, 'a string');
  for (const k of NULLABLE) if (t[k] !== undefined && t[k] !== null && typeof t[k] !== 'string') throw bad(k, 'a string or null');
  if (typeof t[SESSION] !== 'string' && t[SESSION] !== SAME) throw bad(SESSION, `a string or ${SAME} (as in the entry before)`);
  if (typeof t[CODE] !== 'string' && t[CODE] !== null && t[CODE] !== SAME) throw bad(CODE, `a string, null or ${SAME} (as in the entry before)`);
  if (!STATUSES.has(t[7])) throw bad(7, "'ok', 'error' or 'aborted'");
  if (!isCount(t[8])) throw bad(8, 'a whole number');
}
