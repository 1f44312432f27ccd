/**
 * The entries of a task_report (protocol section 13) in the message's buffer: one JSON array of
 * positional DirectTaskEntry (the entries form, node engines), or the columns form (python
 * engines, which build no entry per request: columnsForm below). Read where the records are
 * made (the controller's database thread, or its loop for a memory store), so the check is
 * there: each entry's fields, named by position and field, or a WireError. `session` and `code`
 * may be SAME (0): the value of the entry before, in the same report (a burst from one client
 * runs one function over and over), which the reader puts back. Runtime-free, like validate.ts.
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

/** Separates the columns form's three sections, its headers, and its times records and their fields: bytes no JSON text holds raw. */
const GS = 0x1d;
const RS = '\x1e';
const US = '\x1f';

/** Parses and checks a report's buffer, which must hold `n` entries, in either form (the columns form holds a GS byte; a JSON array cannot). */
export function directEntries(bytes: Uint8Array, n: number): DirectTaskEntry[] {
  const gs = bytes.indexOf(GS);
  return gs < 0 ? entriesForm(bytes, n) : columnsForm(bytes, n, gs);
}

function entriesForm(bytes: Uint8Array, n: number): DirectTaskEntry[] {
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

/**
 * The columns form: `headers GS times GS extras`. headers: each request's header JSON as the
 * engine received it, RS between; times: per entry `received US started US completed US status
 * US result_bytes`, RS between; extras: a JSON array of rows `[i, code, label, stdout, stderr,
 * ename, evalue]` (trailing nulls left off), i ascending. An entry without a row has the code of
 * the entry before (null for the first) and nothing else; a row's code may be SAME.
 */
function columnsForm(bytes: Uint8Array, n: number, gs1: number): DirectTaskEntry[] {
  const gs2 = bytes.indexOf(GS, gs1 + 1);
  if (gs2 < 0) throw new WireError('its buffer must have three sections (headers, times, extras) separated by 0x1D, got two');
  if (bytes.indexOf(GS, gs2 + 1) >= 0) throw new WireError('its buffer must have three sections (headers, times, extras) separated by 0x1D, got more');
  const heads = n === 0 ? [] : decoder.decode(bytes.subarray(0, gs1)).split(RS);
  const times = n === 0 ? [] : decoder.decode(bytes.subarray(gs1 + 1, gs2)).split(RS);
  if (heads.length !== n) throw new WireError(`n says ${n} entries, its buffer has ${heads.length} headers`);
  if (times.length !== n) throw new WireError(`n says ${n} entries, its buffer has ${times.length} times records`);
  let rows: unknown;
  try {
    rows = JSON.parse(decoder.decode(bytes.subarray(gs2 + 1)));
  } catch (e) {
    throw new WireError(`its extras are not JSON: ${(e as Error).message}`);
  }
  if (!Array.isArray(rows)) throw new WireError(`its extras must be an array of rows, got ${describe(rows)}`);
  const out: DirectTaskEntry[] = [];
  let code: unknown = null;
  let r = 0;
  for (let i = 0; i < n; i++) {
    const t = entryOf(heads[i], times[i], i);
    const row = rows[r] as unknown[];
    if (r < rows.length && Array.isArray(row) && row[0] === i) {
      r++;
      if (row.length < 2 || row.length > 7) throw new WireError(`extras row ${r - 1} must have 2 to 7 fields, got ${describe(row)}`);
      if (row[1] === SAME && i === 0) throw new WireError(`entry 0: code cannot be ${SAME} (the same as the entry before): it is the first`);
      if (row[1] !== SAME) code = row[1];
      for (let k = 2; k < row.length; k++) t[8 + k] = row[k];
    }
    t[CODE] = code;
    checkEntry(t, i);
    out.push(t as DirectTaskEntry);
  }
  if (r < rows.length) throw new WireError(`extras row ${r} must be an array [i, code, …] with i from 0 to ${n - 1} ascending, got ${describe(rows[r])}`);
  return out;
}

/**
 * An entry's fields from its header JSON (msg_id, msg_type, session, submitted: header.date or
 * null) and its times record (received, started, completed, status, result_bytes); code, label,
 * output and error null until its extras row.
 */
function entryOf(head: string, times: string, i: number): unknown[] {
  let h: unknown;
  try {
    h = JSON.parse(head);
  } catch (e) {
    throw new WireError(`entry ${i}: its header is not JSON: ${(e as Error).message}`);
  }
  if (typeof h !== 'object' || h === null || Array.isArray(h)) throw new WireError(`entry ${i}: its header must be an object, got ${describe(h)}`);
  const f = h as Record<string, unknown>;
  // A header's session is its own (SAME is for the entries form).
  if (typeof f.session !== 'string') throw new WireError(`entry ${i}: session must be a string, got ${describe(f.session)}`);
  const t = times.split(US);
  if (t.length !== 5) throw new WireError(`entry ${i}: its times record must have 5 fields (received, started, completed, status, result_bytes), got ${t.length}`);
  const bytes = /^\d{1,15}$/.test(t[4]) ? Number(t[4]) : t[4];
  return [f.msg_id, f.msg_type, f.session, typeof f.date === 'string' ? f.date : null, t[0], t[1], t[2], t[3], bytes, null, null, null, null, null, null];
}
