/**
 * db_request filters (checked by core/protocol/validate): matched against records in memory,
 * or turned into an SQL WHERE clause with bound values. The same meaning both ways: equality,
 * $ne, $lt/$lte/$gt/$gte (times are ISO 8601 strings, which compare in time order) and $in/$nin.
 */
import type { TaskCondition, TaskFilter, TaskRecord } from '../../protocol/messages.js';

type Scalar = string | number | boolean | null;
type Comparisons = Exclude<TaskCondition, Scalar>;

function isComparisons(c: TaskCondition): c is Comparisons {
  return c !== null && typeof c === 'object';
}

function holds(v: unknown, c: TaskCondition): boolean {
  if (!isComparisons(c)) return v === c;
  for (const [op, x] of Object.entries(c) as [keyof Comparisons, unknown][]) {
    const ok =
      op === '$ne' ? v !== x
      : op === '$in' ? (x as unknown[]).includes(v)
      : op === '$nin' ? !(x as unknown[]).includes(v)
      : v === null || v === undefined ? false
      : op === '$lt' ? (v as number) < (x as number)
      : op === '$lte' ? (v as number) <= (x as number)
      : op === '$gt' ? (v as number) > (x as number)
      : (v as number) >= (x as number);
    if (!ok) return false;
  }
  return true;
}

/** Does the record satisfy every condition of the filter? */
export function matches(r: TaskRecord, filter: TaskFilter): boolean {
  for (const field in filter) if (!holds((r as unknown as Record<string, unknown>)[field], filter[field])) return false;
  return true;
}

const SQL_OP = { $lt: '<', $lte: '<=', $gt: '>', $gte: '>=' } as const;

/** SQLite has no booleans: `balanced` is stored as 0/1. */
function sqlValue(v: Scalar): string | number | null {
  return typeof v === 'boolean' ? Number(v) : v;
}

/** `WHERE ...` (or '') and its values, for a filter whose field names were checked against TASK_FIELDS. */
export function whereClause(filter: TaskFilter): { sql: string; values: (string | number | null)[] } {
  const parts: string[] = [];
  const values: (string | number | null)[] = [];
  const eq = (col: string, v: Scalar, not: boolean) => {
    if (v === null) parts.push(`${col} IS ${not ? 'NOT ' : ''}NULL`);
    else {
      parts.push(`${col} ${not ? '!=' : '='} ?`);
      values.push(sqlValue(v));
    }
  };
  for (const [field, c] of Object.entries(filter)) {
    const col = `"${field}"`;
    if (!isComparisons(c)) {
      eq(col, c, false);
      continue;
    }
    for (const [op, x] of Object.entries(c)) {
      if (op === '$ne') eq(col, x as Scalar, true);
      else if (op === '$in' || op === '$nin') {
        const list = x as Scalar[];
        if (list.length === 0) parts.push(op === '$in' ? '0' : '1');
        else {
          parts.push(`${col} ${op === '$in' ? 'IN' : 'NOT IN'} (${list.map(() => '?').join(', ')})`);
          for (const y of list) values.push(sqlValue(y));
        }
      } else {
        parts.push(`${col} ${SQL_OP[op as keyof typeof SQL_OP]} ?`);
        values.push(x as string | number);
      }
    }
  }
  return { sql: parts.length ? `WHERE ${parts.join(' AND ')}` : '', values };
}

/** The record with only `keys` (msg_id and engine_id always). */
export function project(r: TaskRecord, keys: readonly string[] | undefined): Partial<TaskRecord> {
  if (keys === undefined) return r;
  const out: Record<string, unknown> = { msg_id: r.msg_id, engine_id: r.engine_id };
  for (const k of keys) out[k] = (r as unknown as Record<string, unknown>)[k];
  return out as Partial<TaskRecord>;
}

/** About how many bytes a record takes (what the byte cap counts). */
export function recordBytes(r: TaskRecord): number {
  let n = 128 + r.msg_id.length + r.stdout.length + r.stderr.length + (r.code?.length ?? 0) + (r.evalue?.length ?? 0) + (r.label?.length ?? 0);
  if (r.traceback) for (const line of r.traceback) n += line.length;
  return n;
}
