// Values reach the renderer as display trees, capped; push values are JSON or a JS expression.
import { describe, expect, it } from 'vitest';
import { NDArray } from '../../../core/index.js';
import { parseValue } from '../../../main/services/parseValue.js';
import { toValueView, VIEW_LIMITS } from '../../../main/services/valueView.js';

describe('toValueView', () => {
  it('shows scalars as text', () => {
    expect(toValueView(5)).toEqual({ kind: 'scalar', type: 'number', text: '5' });
    expect(toValueView('hi')).toEqual({ kind: 'scalar', type: 'string', text: '"hi"' });
    expect(toValueView(null)).toEqual({ kind: 'scalar', type: 'null', text: 'null' });
    expect(toValueView(10n)).toEqual({ kind: 'scalar', type: 'bigint', text: '10n' });
    expect(toValueView(new Date(0))).toEqual({ kind: 'scalar', type: 'Date', text: '1970-01-01T00:00:00.000Z' });
  });

  it('shows arrays as lists and rectangular ones as tables', () => {
    const l = toValueView([1, 2, 3]);
    expect(l).toMatchObject({ kind: 'list', type: 'Array', length: 3, truncated: false });
    expect(toValueView([[1, 2], [3, 4], [5, 6]])).toEqual({ kind: 'table', type: 'Array', shape: [3, 2], rows: [['1', '2'], ['3', '4'], ['5', '6']], truncated: false });
    expect(toValueView(new Float64Array([0.5, 1.5]))).toMatchObject({ kind: 'list', type: 'Float64Array', length: 2 });
    const nd = toValueView(new NDArray(new Int32Array([1, 2, 3, 4, 5, 6]), [2, 3]));
    expect(nd).toMatchObject({ kind: 'table', type: 'NDArray<int32>', shape: [2, 3], rows: [['1', '2', '3'], ['4', '5', '6']] });
  });

  it('shows objects as trees', () => {
    expect(toValueView({ a: 1, b: { c: [1] } })).toEqual({
      kind: 'object',
      type: 'Object',
      size: 2,
      truncated: false,
      entries: [
        { key: 'a', value: { kind: 'scalar', type: 'number', text: '1' } },
        { key: 'b', value: { kind: 'object', type: 'Object', size: 1, truncated: false, entries: [{ key: 'c', value: { kind: 'list', type: 'Array', length: 1, truncated: false, items: [{ kind: 'scalar', type: 'number', text: '1' }] } }] } },
      ],
    });
    expect(toValueView(new Map([['k', 1]]))).toMatchObject({ kind: 'object', type: 'Map', size: 1 });
  });

  it('caps big values', () => {
    const big = toValueView(Array.from({ length: 100_000 }, (_, i) => i));
    expect(big).toMatchObject({ kind: 'list', length: 100_000, truncated: true });
    expect(big.kind === 'list' && big.items.length).toBe(VIEW_LIMITS.items);
    const long = toValueView('x'.repeat(50_000));
    expect(long).toMatchObject({ kind: 'text', truncated: true });
    let deep: unknown = 1;
    for (let i = 0; i < 50; i++) deep = { d: deep };
    expect(JSON.stringify(toValueView(deep)).length).toBeLessThan(5_000);
  });
});

describe('parseValue', () => {
  it('reads JSON', () => {
    expect(parseValue('[1,2,3]', 'json')).toEqual([1, 2, 3]);
    expect(() => parseValue('[1,2', 'json')).toThrow(/not valid JSON/);
  });

  it('evaluates a JavaScript expression in a context of its own', () => {
    expect(parseValue('Array.from({ length: 4 }, (_, i) => i * i)', 'expr')).toEqual([0, 1, 4, 9]);
    expect(parseValue('{ a: 1 }', 'expr')).toEqual({ a: 1 });
    expect(() => parseValue('process.exit(1)', 'expr')).toThrow(/ReferenceError: process is not defined/);
    expect(() => parseValue('require("fs")', 'expr')).toThrow(/require is not defined/);
    expect(() => parseValue('(() => { for (;;) {} })()', 'expr')).toThrow(/timed out/);
  });
});
