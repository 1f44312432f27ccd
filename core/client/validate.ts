/**
 * Checks of user input that run on the client before anything is sent. Each error names
 * the method, the bad value and what was expected.
 */
import { isPlainObject } from '../serialize/serialize.js';

/** Where a call runs: one engine (bare results), a list of engines, or all of them. */
export type Targets = number | readonly number[] | 'all';

/** A name that can be bound in an engine namespace (JS and Python both accept it). */
const IDENTIFIER = /^[\p{ID_Start}_$][\p{ID_Continue}$\u200C\u200D]*$/u;

export function isIdentifier(name: unknown): name is string {
  return typeof name === 'string' && IDENTIFIER.test(name);
}

export function show(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'bigint') return `${v}n`;
  if (typeof v === 'function') return `function ${v.name || '(anonymous)'}`;
  if (typeof v === 'symbol') return v.toString();
  if (v === null || typeof v !== 'object') return String(v);
  if (Array.isArray(v)) return v.length <= 8 ? `[${v.map(show).join(', ')}]` : `an array of ${v.length}`;
  const ctor = (v as { constructor?: { name?: string } }).constructor?.name;
  return ctor && ctor !== 'Object' ? `a ${ctor}` : 'an object';
}

export function checkName(method: string, name: unknown): string {
  if (!isIdentifier(name)) throw new TypeError(`${method}: ${show(name)} is not a valid name (names must be identifiers, like a, x1 or my_value)`);
  return name;
}

/** A non-empty list of names, each passing `checkItem` (identifiers by default). */
export function checkNames(method: string, names: unknown, checkItem: (method: string, name: unknown) => string = checkName): string[] {
  if (!Array.isArray(names)) throw new TypeError(`${method}: expected a name or a list of names, got ${show(names)}`);
  if (names.length === 0) throw new TypeError(`${method}: the list of names is empty`);
  return names.map((n) => checkItem(method, n));
}

/** A namespace to push: a plain object whose keys all pass `checkKey` (identifiers by default). */
export function checkNamespace(method: string, ns: unknown, checkKey: (method: string, key: string) => string = checkName): Record<string, unknown> {
  if (typeof ns !== 'object' || ns === null || Array.isArray(ns) || !isPlainObject(ns)) {
    throw new TypeError(`${method}: expected an object of names to values, like { a: 1 }, got ${show(ns)}`);
  }
  for (const k of Object.keys(ns)) checkKey(method, k);
  return ns as Record<string, unknown>;
}

function listIds(ids: readonly number[]): string {
  return ids.length ? ids.join(', ') : 'none';
}

/**
 * Turns a targets spec into engine ids. `known` are the ids the controller has told us about
 * (dead ones included: the controller answers for them with EngineError); `live` are the
 * ids of live engines, which 'all' (or undefined) means; `noneBecause` says why there are none, when known.
 */
export function resolveTargets(method: string, spec: Targets | null | undefined, known: { has(id: number): boolean }, live: readonly number[], noneBecause?: string): { ids: number[]; bare: boolean } {
  if (spec === undefined || spec === null || spec === 'all') {
    if (live.length === 0) throw new Error(`${method}: no engines are registered${noneBecause ? `: ${noneBecause}` : ''}`);
    return { ids: [...live], bare: false };
  }
  const check = (id: unknown): number => {
    if (typeof id !== 'number' || !Number.isInteger(id) || id < 0) throw new TypeError(`${method}: targets must be an engine id or a list of engine ids, got ${show(id)}`);
    if (!known.has(id)) throw new RangeError(`no engine with id ${id} (engines: ${listIds(live)})`);
    return id;
  };
  if (typeof spec === 'number') return { ids: [check(spec)], bare: true };
  if (!Array.isArray(spec)) throw new TypeError(`${method}: targets must be an engine id, a list of engine ids or 'all', got ${show(spec)}`);
  if (spec.length === 0) throw new RangeError(`${method}: targets is an empty list`);
  const seen = new Set<number>();
  const ids = spec.map((id) => {
    const n = check(id);
    if (seen.has(n)) throw new RangeError(`${method}: engine ${n} appears twice in targets`);
    seen.add(n);
    return n;
  });
  return { ids, bare: false };
}

/** Validates the shape of a targets spec without checking ids against the cluster. */
export function checkTargetsShape(spec: unknown): Targets | undefined {
  if (spec === undefined || spec === null || spec === 'all') return spec === null ? undefined : (spec as 'all' | undefined);
  if (typeof spec === 'number' && Number.isInteger(spec) && spec >= 0) return spec;
  if (Array.isArray(spec) && spec.every((id) => typeof id === 'number' && Number.isInteger(id) && id >= 0)) return [...(spec as number[])];
  throw new TypeError(`targets must be an engine id, a list of engine ids, 'all' or undefined, got ${show(spec)}`);
}

export function checkModules(method: string, modules: readonly unknown[]): string[] {
  if (modules.length === 0) throw new TypeError(`${method}: name at least one module`);
  for (const m of modules) if (typeof m !== 'string' || m.trim() === '') throw new TypeError(`${method}: a module must be a non-empty string, got ${show(m)}`);
  return modules as string[];
}
