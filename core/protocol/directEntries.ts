/**
 * The entries of a task_report (protocol section 13) in the message's buffer, which is in the
 * columns form (see directEntries below): engines build no entry per request. Read where the
 * records are made (the controller's database thread, or its loop for a memory store), so the
 * check is there: each entry's fields, named by position and field, or a WireError. A row's
 * `code` may be SAME (0): the code of the entry before, in the same report (a burst from one
 * client runs one function over and over), which the reader puts back. Runtime-free, like
 * validate.ts.
 */
import { DIRECT_ENTRY_FIELDS, type DirectTaskEntry } from './messages.js';
import { describe, isCount, WireError } from './validate.js';

/** In place of a row's `code`: as in the entry before. */
export const SAME = 0;
const STATUSES: ReadonlySet<unknown> = new Set(['ok', 'error', 'aborted']);
/** Positions that are strings in every entry; the rest of the first DIRECT_ENTRY_REQUIRED are nullable strings, status or a count. */
const STRINGS = [0, 1, 2, 4, 5, 6];
const NULLABLE = [3, 10, 11, 12, 13, 14];
const CODE = 9;
const decoder = new TextDecoder();

/** Separates the columns form's four sections, and the entries of its headers and metadata sections: bytes no JSON text holds raw. */
const GS = 0x1d;
const RS = '\x1e';

/** An entry as read (entryOf and its extras row): each field of its kind, or a WireError naming the entry and field. */
function checkEntry(t: unknown[], i: number): void {
  const bad = (k: number, what: string) => new WireError(`entry ${i}: ${DIRECT_ENTRY_FIELDS[k]} must be ${what}, got ${describe(t[k])}`);
  for (const k of STRINGS) if (typeof t[k] !== 'string') throw bad(k, 'a string');
  for (const k of NULLABLE) if (t[k] !== undefined && t[k] !== null && typeof t[k] !== 'string') throw bad(k, 'a string or null');
  if (typeof t[CODE] !== 'string' && t[CODE] !== null) throw bad(CODE, `a string, null or ${SAME} (as in the entry before)`);
  if (!STATUSES.has(t[7])) throw bad(7, "'ok', 'error' or 'aborted'");
  if (!isCount(t[8])) throw bad(8, 'a whole number');
}

/**
 * Parses and checks a report's buffer, which must hold `n` entries in the columns form:
 * `headers GS metadata GS sizes GS extras`. headers: each request's header JSON
 * as the engine received it, RS between; metadata: each reply's metadata JSON as the engine sent
 * it (received, started, completed), RS between; sizes: a JSON array of each reply's size in
 * bytes; extras: a JSON array of rows `[i, code, label, status, stdout, stderr, ename, evalue]`
 * (trailing nulls left off), i ascending. An entry without a row has the code of the entry before
 * (null for the first) and status 'ok'; a row's code may be SAME, its status null for 'ok'.
 */
export function directEntries(bytes: Uint8Array, n: number): DirectTaskEntry[] {
  const gs1 = bytes.indexOf(GS);
  const gs2 = gs1 < 0 ? -1 : bytes.indexOf(GS, gs1 + 1);
  const gs3 = gs2 < 0 ? -1 : bytes.indexOf(GS, gs2 + 1);
  if (gs3 < 0) throw new WireError(`its buffer must have four sections (headers, metadata, sizes, extras) separated by 0x1D, got ${gs1 < 0 ? 1 : gs2 < 0 ? 2 : 3}`);
  if (bytes.indexOf(GS, gs3 + 1) >= 0) throw new WireError('its buffer must have four sections (headers, metadata, sizes, extras) separated by 0x1D, got more');
  const heads = n === 0 ? [] : decoder.decode(bytes.subarray(0, gs1)).split(RS);
  const metas = n === 0 ? [] : decoder.decode(bytes.subarray(gs1 + 1, gs2)).split(RS);
  if (heads.length !== n) throw new WireError(`n says ${n} entries, its buffer has ${heads.length} headers`);
  if (metas.length !== n) throw new WireError(`n says ${n} entries, its buffer has ${metas.length} metadata`);
  const sizes = jsonArray(bytes.subarray(gs2 + 1, gs3), 'sizes', 'an array of sizes');
  if (sizes.length !== n) throw new WireError(`n says ${n} entries, its buffer has ${sizes.length} sizes`);
  const rows = jsonArray(bytes.subarray(gs3 + 1), 'extras', 'an array of rows');
  const out: DirectTaskEntry[] = [];
  let code: unknown = null;
  let r = 0;
  for (let i = 0; i < n; i++) {
    const t = entryOf(heads[i], metas[i], sizes[i], i);
    const row = rows[r] as unknown[];
    if (r < rows.length && Array.isArray(row) && row[0] === i) {
      r++;
      if (row.length < 2 || row.length > 8) throw new WireError(`extras row ${r - 1} must have 2 to 8 fields, got ${describe(row)}`);
      if (row[1] === SAME && i === 0) throw new WireError(`entry 0: code cannot be ${SAME} (the same as the entry before): it is the first`);
      if (row[1] !== SAME) code = row[1];
      if (row.length > 2) t[10] = row[2];
      if (row.length > 3 && row[3] !== null) t[7] = row[3];
      for (let k = 4; k < row.length; k++) t[7 + k] = row[k];
    }
    t[CODE] = code;
    checkEntry(t, i);
    out.push(t as DirectTaskEntry);
  }
  if (r < rows.length) throw new WireError(`extras row ${r} must be an array [i, code, …] with i from 0 to ${n - 1} ascending, got ${describe(rows[r])}`);
  return out;
}

/** JSON.parse of `text`, or a WireError that begins with `notJson` and says why. */
function parsed(text: string, notJson: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new WireError(`${notJson}: ${(e as Error).message}`);
  }
}

/** A columns-form section that is one JSON array, or a WireError naming the section. */
function jsonArray(bytes: Uint8Array, section: string, what: string): unknown[] {
  const v = parsed(decoder.decode(bytes), `its ${section} are not JSON`);
  if (!Array.isArray(v)) throw new WireError(`its ${section} must be ${what}, got ${describe(v)}`);
  return v;
}

/** A JSON object from a section's text, or a WireError naming the entry and what it is. */
function objectOf(text: string, i: number, what: string): Record<string, unknown> {
  const v = parsed(text, `entry ${i}: its ${what} is not JSON`);
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new WireError(`entry ${i}: its ${what} must be an object, got ${describe(v)}`);
  return v as Record<string, unknown>;
}

/**
 * An entry's fields from its header JSON (msg_id, msg_type, session, submitted: header.date or
 * null), its reply's metadata JSON (received, started, completed) and size; status 'ok'; code,
 * label, output and error null until its extras row.
 */
function entryOf(head: string, meta: string, size: unknown, i: number): unknown[] {
  const h = objectOf(head, i, 'header');
  const m = objectOf(meta, i, 'metadata');
  return [h.msg_id, h.msg_type, h.session, typeof h.date === 'string' ? h.date : null, m.received, m.started, m.completed, 'ok', size, null, null, null, null, null, null];
}
