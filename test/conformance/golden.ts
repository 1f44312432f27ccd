/**
 * Golden request/reply fixtures (test/conformance/fixtures/*.json): loading them, filling in
 * what a request sends for one engine language, and matching what comes back against the
 * expected messages. The fixture format and the matching language are described in
 * test/conformance/fixtures/README.md.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { isDeepStrictEqual } from 'node:util';

export const FIXTURES_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures');

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/** Binary data written in a fixture: hex digits or UTF-8 text. */
export type BufferSpec = { hex: string } | { utf8: string };

export interface Expect {
  /** The reply's content (a matcher). */
  reply: JsonValue;
  /** The reply's buffers, exactly (default: none). */
  buffers?: BufferSpec[];
  /** The text of each output stream, all of it before the reply (a stream not named: no output). */
  streams?: { [name: string]: JsonValue };
}

export type Step =
  | { send: string; name?: string; via?: 'main' | 'direct' | 'heart'; content: JsonValue; buffers?: BufferSpec[]; metadata?: JsonValue; expect?: Expect }
  | { await: string; expect: Expect }
  | { replay: string }
  | { wait_running: string }
  | { received: string; via: 'main' | 'heart'; content: JsonValue }
  | { exit: number };

export interface Fixture {
  /** What it proves, in a sentence. */
  title: string;
  /** Where docs/protocol.md defines it. */
  protocol: string;
  /** true: run on an engine started for this fixture alone (it exits, or counts from 1). */
  fresh?: boolean;
  steps: Step[];
  file: string;
}

export function loadFixtures(dir = FIXTURES_DIR): Fixture[] {
  return fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => ({ ...(JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')) as Omit<Fixture, 'file'>), file: f }));
}

export function bufferOf(spec: BufferSpec): Uint8Array {
  return 'hex' in spec ? new Uint8Array(Buffer.from(spec.hex, 'hex')) : new Uint8Array(Buffer.from(spec.utf8, 'utf8'));
}

function isObject(v: unknown): v is { [key: string]: JsonValue } {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The only key of a one-key object that starts with `$`, else undefined. */
function directive(v: JsonValue): string | undefined {
  if (!isObject(v)) return undefined;
  const keys = Object.keys(v);
  return keys.length === 1 && keys[0].startsWith('$') ? keys[0] : undefined;
}

/**
 * What is sent to an engine of `lang`: `{"$lang": {lang: v, …}}` becomes v, `{"$id": name}` the
 * msg_id of the request the fixture named so, `{"$literal": v}` v as it is.
 */
export function resolve(v: JsonValue, lang: string, ids: Map<string, string>): JsonValue {
  const d = directive(v);
  if (d !== undefined) {
    const arg = (v as { [key: string]: JsonValue })[d];
    if (d === '$lang') {
      if (!isObject(arg) || !(lang in arg)) throw new Error(`the fixture has no ${lang} version of ${JSON.stringify(arg)}`);
      return resolve(arg[lang], lang, ids);
    }
    if (d === '$id') return idOf(ids, arg);
    if (d === '$literal') return arg;
  }
  if (Array.isArray(v)) return v.map((x) => resolve(x, lang, ids));
  if (isObject(v)) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, resolve(x, lang, ids)]));
  return v;
}

function idOf(ids: Map<string, string>, name: JsonValue): string {
  const id = typeof name === 'string' ? ids.get(name) : undefined;
  if (id === undefined) throw new Error(`the fixture names no request ${JSON.stringify(name)}`);
  return id;
}

const ISO_DATE = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

/** Matchers written as strings: a name and its test. */
const NAMED: { [name: string]: (v: unknown) => boolean } = {
  $any: () => true,
  $string: (v) => typeof v === 'string',
  $int: (v) => Number.isInteger(v),
  $number: (v) => typeof v === 'number' && Number.isFinite(v),
  $date: (v) => typeof v === 'string' && ISO_DATE.test(v),
  $strings: (v) => Array.isArray(v) && v.every((x) => typeof x === 'string'),
};

/**
 * Where `actual` differs from the matcher `expected`, one line per difference (none: it matches).
 * Numbers compare with Object.is (so -0 is not 0); objects must have exactly the expected keys,
 * unless the matcher has `"$more": true`; `"$absent"` as a key's matcher: that key must be missing.
 */
export function mismatches(expected: JsonValue, actual: unknown, lang: string, ids: Map<string, string>, at = ''): string[] {
  const where = at || '(top)';
  const show = (v: unknown): string => (Object.is(v, -0) ? '-0' : JSON.stringify(v));
  const differ = (): string[] => [`${where}: expected ${show(expected)}, got ${show(actual)}`];
  if (typeof expected === 'string' && expected.startsWith('$')) {
    const test = NAMED[expected];
    if (!test) throw new Error(`unknown matcher ${expected} at ${where}`);
    return test(actual) ? [] : differ();
  }
  const d = directive(expected);
  if (d !== undefined) {
    const arg = (expected as { [key: string]: JsonValue })[d];
    switch (d) {
      case '$match':
        return typeof actual === 'string' && new RegExp(String(arg)).test(actual) ? [] : differ();
      case '$id':
        return actual === idOf(ids, arg) ? [] : differ();
      case '$lang':
        return mismatches(resolve(expected, lang, ids), actual, lang, ids, at);
      case '$literal':
        return isDeepStrictEqual(arg, actual) ? [] : differ();
      default:
        throw new Error(`unknown matcher ${d} at ${where}`);
    }
  }
  if (Array.isArray(expected)) {
    if (!Array.isArray(actual)) return differ();
    if (actual.length !== expected.length) return [`${where}: expected ${expected.length} items, got ${actual.length}: ${show(actual)}`];
    return expected.flatMap((e, i) => mismatches(e, actual[i], lang, ids, `${at}[${i}]`));
  }
  if (isObject(expected)) {
    if (!isObject(actual)) return differ();
    const out: string[] = [];
    for (const [k, e] of Object.entries(expected)) {
      if (k === '$more') continue;
      if (e === '$absent') {
        if (k in actual) out.push(`${at}.${k}: expected no such key, got ${show(actual[k])}`);
      } else if (!(k in actual)) {
        out.push(`${at}.${k}: missing (expected ${show(e)})`);
      } else {
        out.push(...mismatches(e, actual[k], lang, ids, `${at}.${k}`));
      }
    }
    if (expected.$more !== true) for (const k of Object.keys(actual)) if (!(k in expected)) out.push(`${at}.${k}: unexpected key (${show(actual[k])})`);
    return out;
  }
  return Object.is(expected, actual) ? [] : differ();
}
