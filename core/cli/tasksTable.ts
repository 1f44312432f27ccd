/** What `multiengine tasks` prints: task records in submission order, as a table with short ids, times and truncated text. */
import type { TaskRecord } from '../protocol/messages.js';
import { table } from './textTable.js';

/** The record fields the table shows (the rest, such as output and tracebacks, stay in the controller unless --json). */
export const TABLE_FIELDS = ['msg_type', 'label', 'code', 'status', 'submitted', 'received', 'started', 'completed', 'ename', 'evalue'] as const;
export type TableRecord = Pick<TaskRecord, 'msg_id' | 'engine_id' | (typeof TABLE_FIELDS)[number]>;

const CODE_CHARS = 40;
const ERROR_CHARS = 60;

/** When a record's request was sent: the client's time, or the controller's when the client gave none. */
function sentAt(r: Pick<TaskRecord, 'submitted' | 'received'>): string {
  return r.submitted ?? r.received;
}

/**
 * Records oldest first by submission, and only the newest `last` of them when given. The controller
 * answers in the order requests finished, which is not the order they were sent. Ties (times are
 * to the millisecond) go by received, then msg_id (one client's end in a counter), then engine.
 */
export function inSubmissionOrder<R extends Pick<TaskRecord, 'msg_id' | 'submitted' | 'received' | 'engine_id'>>(records: readonly R[], last?: number): R[] {
  const sorted = [...records].sort((a, b) => cmp(sentAt(a), sentAt(b)) || cmp(a.received, b.received) || cmp(a.msg_id, b.msg_id) || (a.engine_id ?? -1) - (b.engine_id ?? -1));
  return last === undefined ? sorted : sorted.slice(Math.max(0, sorted.length - last));
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** msg_ids share a per-process prefix and end in a counter: the head and the tail tell them apart. */
export function shortId(id: string): string {
  return id.length <= 14 ? id : `${id.slice(0, 6)}…${id.slice(-6)}`;
}

/** One line, whitespace runs as one space, at most `max` characters (the last an ellipsis when cut). */
export function oneLine(text: string, max: number): string {
  const s = text.replace(/\s+/g, ' ').trim();
  return s.length <= max ? s : `${s.slice(0, max - 1)}…`;
}

/** `2026-12-03 16:40:01.123` (UTC, as the records keep it); '-' for none. */
export function formatTime(iso: string | null): string {
  if (iso === null) return '-';
  const t = Date.parse(iso);
  return Number.isNaN(t) ? iso : new Date(t).toISOString().replace('T', ' ').replace(/Z$/, '');
}

/** The engine's time on it (started to completed): `12 ms`, `1.50 s`, `2 min 3 s`; '-' while it runs or when not known. */
export function formatDuration(started: string | null, completed: string | null): string {
  if (started === null || completed === null) return '-';
  const ms = Date.parse(completed) - Date.parse(started);
  if (!Number.isFinite(ms) || ms < 0) return '-';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(2)} s`;
  const s = Math.round(ms / 1000);
  return `${Math.floor(s / 60)} min ${s % 60} s`;
}

/** The table, one row per record (a request on one engine); engine '-' is a load-balanced task never assigned. */
export function formatTaskTable(records: readonly TableRecord[]): string {
  const rows = records.map((r) => [
    shortId(r.msg_id),
    r.engine_id === null ? '-' : String(r.engine_id),
    r.msg_type.replace(/_request$/, ''),
    r.label ?? '-',
    r.status,
    formatTime(r.submitted ?? r.received),
    formatDuration(r.started, r.completed),
    r.code === null ? '' : oneLine(r.code, CODE_CHARS),
    r.ename === null ? '' : oneLine(r.evalue ? `${r.ename}: ${r.evalue}` : r.ename, ERROR_CHARS),
  ]);
  return table([['msg_id', 'engine', 'method', 'label', 'status', 'submitted (UTC)', 'duration', 'code', 'error'], ...rows]);
}
