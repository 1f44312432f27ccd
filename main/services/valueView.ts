/**
 * Turns a value pulled from an engine into a display tree (ValueView) for the renderer:
 * scalars as text, arrays as lists or, when rectangular, as tables, objects as trees. Every
 * level is capped, so a huge value gives a small message.
 */
import { inspect } from 'node:util';
import type { ValueView } from '../../preload/contract.js';

export const VIEW_LIMITS = {
  items: 200,
  tableRows: 200,
  tableCols: 50,
  entries: 200,
  depth: 8,
  text: 10_000,
  nodes: 20_000,
};

interface Budget {
  nodes: number;
}

function isTypedArray(v: unknown): v is ArrayLike<number | bigint> & ArrayBufferView {
  return ArrayBuffer.isView(v) && !(v instanceof DataView);
}

/** An NDArray (or anything shaped like one: dtype, shape and typed data). */
function isNDArrayLike(v: unknown): v is { dtype: string; shape: number[]; data: ArrayLike<number | bigint> } {
  const o = v as { dtype?: unknown; shape?: unknown; data?: unknown } | null;
  return typeof o === 'object' && o !== null && typeof o.dtype === 'string' && Array.isArray(o.shape) && isTypedArray(o.data);
}

function scalarText(v: unknown): string {
  switch (typeof v) {
    case 'string':
      return JSON.stringify(v);
    case 'bigint':
      return `${v}n`;
    case 'number':
      return Object.is(v, -0) ? '-0' : String(v);
    case 'symbol':
      return v.toString();
    default:
      return String(v);
  }
}

function typeName(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'Array';
  const t = typeof v;
  if (t !== 'object' && t !== 'function') return t;
  if (t === 'function') return 'function';
  const ctor = (v as { constructor?: { name?: unknown } }).constructor?.name;
  return typeof ctor === 'string' && ctor ? ctor : 'Object';
}

function cell(v: unknown): string {
  if (typeof v === 'bigint') return String(v);
  if (v === null || typeof v !== 'object') return scalarText(v);
  return inspect(v, { depth: 0, breakLength: Infinity, maxArrayLength: 4, maxStringLength: 40 });
}

function isScalar(v: unknown): boolean {
  return v === null || (typeof v !== 'object' && typeof v !== 'function');
}

/** A 2-D rectangular array of scalars (rows of equal length, at least one column). */
function rectangular(rows: readonly unknown[]): number | null {
  if (rows.length === 0) return null;
  let cols = -1;
  for (const r of rows) {
    const isRow = Array.isArray(r) || isTypedArray(r);
    if (!isRow) return null;
    const row = r as ArrayLike<unknown>;
    if (cols === -1) cols = row.length;
    if (row.length !== cols) return null;
    if (Array.isArray(row)) for (let i = 0; i < Math.min(row.length, VIEW_LIMITS.tableCols); i++) if (!isScalar(row[i])) return null;
  }
  return cols > 0 ? cols : null;
}

function table(type: string, rowsIn: readonly ArrayLike<unknown>[], cols: number): ValueView {
  const nRows = Math.min(rowsIn.length, VIEW_LIMITS.tableRows);
  const nCols = Math.min(cols, VIEW_LIMITS.tableCols);
  const rows: string[][] = [];
  for (let i = 0; i < nRows; i++) {
    const r = rowsIn[i];
    const out: string[] = [];
    for (let j = 0; j < nCols; j++) out.push(cell(r[j]));
    rows.push(out);
  }
  return { kind: 'table', type, shape: [rowsIn.length, cols], rows, truncated: nRows < rowsIn.length || nCols < cols };
}

function list(type: string, items: ArrayLike<unknown>, depth: number, budget: Budget): ValueView {
  const n = Math.min(items.length, VIEW_LIMITS.items);
  const out: ValueView[] = [];
  for (let i = 0; i < n && budget.nodes > 0; i++) out.push(view(items[i], depth + 1, budget));
  return { kind: 'list', type, length: items.length, items: out, truncated: out.length < items.length };
}

function text(type: string, s: string): ValueView {
  return s.length > VIEW_LIMITS.text ? { kind: 'text', type, text: s.slice(0, VIEW_LIMITS.text), truncated: true } : { kind: 'text', type, text: s, truncated: false };
}

function view(v: unknown, depth: number, budget: Budget): ValueView {
  budget.nodes--;
  if (typeof v === 'string') return v.length > 120 || v.includes('\n') ? text('string', v) : { kind: 'scalar', type: 'string', text: scalarText(v) };
  if (isScalar(v)) return { kind: 'scalar', type: typeName(v), text: scalarText(v) };
  if (typeof v === 'function') return text('function', Function.prototype.toString.call(v));
  if (depth >= VIEW_LIMITS.depth || budget.nodes <= 0) return { kind: 'scalar', type: typeName(v), text: cell(v) };
  const o = v as object;
  if (o instanceof Date) return { kind: 'scalar', type: 'Date', text: Number.isNaN(o.getTime()) ? 'Invalid Date' : o.toISOString() };
  if (o instanceof RegExp) return { kind: 'scalar', type: 'RegExp', text: String(o) };
  if (o instanceof Error) return text(o.name || 'Error', `${o.name}: ${o.message}`);
  const repr = o as { $repr?: unknown; type?: unknown };
  if (typeof repr.$repr === 'string' && Object.keys(o).length === 2) return text(typeof repr.type === 'string' ? repr.type : 'object', repr.$repr);
  if (isNDArrayLike(o)) {
    const type = `NDArray<${o.dtype}>`;
    if (o.shape.length === 2) {
      const [r, c] = o.shape;
      const rows = Array.from({ length: Math.min(r, VIEW_LIMITS.tableRows) }, (_, i) => Array.prototype.slice.call(o.data, i * c, i * c + Math.min(c, VIEW_LIMITS.tableCols)) as unknown[]);
      const tv = table(type, rows, c);
      return { ...tv, shape: [r, c], truncated: r > VIEW_LIMITS.tableRows || c > VIEW_LIMITS.tableCols } as ValueView;
    }
    if (o.shape.length <= 1) return list(type, o.data, depth, budget);
    const arr = (o as unknown as { toArray?: () => unknown[] }).toArray?.() ?? Array.from(o.data as ArrayLike<unknown>);
    return list(`${type} [${o.shape.join('×')}]`, arr, depth, budget);
  }
  if (isTypedArray(o)) return list(typeName(o), o, depth, budget);
  if (Array.isArray(o)) {
    const cols = rectangular(o);
    if (cols !== null && cols > 1) return table('Array', o as ArrayLike<unknown>[], cols);
    return list('Array', o, depth, budget);
  }
  if (o instanceof Set) return list('Set', [...o].slice(0, VIEW_LIMITS.items + 1), depth, budget);
  if (o instanceof Map) {
    const entries: { key: string; value: ValueView }[] = [];
    for (const [k, val] of o) {
      if (entries.length >= VIEW_LIMITS.entries || budget.nodes <= 0) break;
      entries.push({ key: cell(k), value: view(val, depth + 1, budget) });
    }
    return { kind: 'object', type: 'Map', size: o.size, entries, truncated: entries.length < o.size };
  }
  const keys = Object.keys(o);
  const entries: { key: string; value: ValueView }[] = [];
  for (const k of keys) {
    if (entries.length >= VIEW_LIMITS.entries || budget.nodes <= 0) break;
    entries.push({ key: k, value: view((o as Record<string, unknown>)[k], depth + 1, budget) });
  }
  return { kind: 'object', type: typeName(o), size: keys.length, entries, truncated: entries.length < keys.length };
}

export function toValueView(v: unknown): ValueView {
  return view(v, 0, { nodes: VIEW_LIMITS.nodes });
}
