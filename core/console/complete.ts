/**
 * Tab completion. JavaScript names of the console's global scope (and properties after a
 * dot), magic names after `%`, and the names in the engines' namespaces (dview.keys())
 * after `%px `, inside `dview['` and on lines that go to the engines (autopx, %%px cells).
 */
import { DirectView } from '../client/directView.js';
import { MAGICS } from './magics.js';

export type CompleterResult = [string[], string];

export interface CompleteContext {
  /** The line goes to the engines (autopx mode, or inside a %%px cell). */
  engineLine: boolean;
  /** The view whose engines' names are offered. */
  view(): DirectView | undefined;
}

const JS_KEYWORDS = [
  'async', 'await', 'break', 'case', 'catch', 'class', 'const', 'continue', 'debugger', 'default', 'delete', 'do', 'else',
  'export', 'extends', 'false', 'finally', 'for', 'function', 'if', 'import', 'in', 'instanceof', 'let', 'new', 'null',
  'return', 'super', 'switch', 'this', 'throw', 'true', 'try', 'typeof', 'undefined', 'var', 'void', 'while', 'with', 'yield',
];

const KEYS_TIMEOUT_MS = 1500;

/** Every property name of `obj` and its prototypes, without symbols. */
export function propertyNames(obj: unknown): string[] {
  const names = new Set<string>();
  let o: unknown = obj;
  if (o === null || o === undefined) return [];
  if (typeof o !== 'object' && typeof o !== 'function') o = Object(o);
  for (let depth = 0; o !== null && depth < 32; depth++) {
    for (const k of Object.getOwnPropertyNames(o)) names.add(k);
    o = Object.getPrototypeOf(o);
  }
  return [...names].filter((n) => n !== 'constructor' && !n.startsWith('__') && /^[A-Za-z_$][\w$]*$/.test(n));
}

function matching(candidates: Iterable<string>, prefix: string): string[] {
  return [...new Set(candidates)].filter((c) => c.startsWith(prefix)).sort();
}

/** Follows `a.b.c` from the global scope without calling anything; undefined when a step is missing. */
function resolvePath(dotted: string): unknown {
  let o: unknown = globalThis;
  for (const part of dotted.split('.')) {
    if (o === null || o === undefined) return undefined;
    try {
      o = (o as Record<string, unknown>)[part];
    } catch {
      return undefined;
    }
  }
  return o;
}

/** The union of the names in the engines' namespaces; [] when they do not answer in time. */
export async function engineNames(view: DirectView | undefined): Promise<string[]> {
  if (!view) return [];
  let timer: NodeJS.Timeout | undefined;
  try {
    const keys = await Promise.race([
      view.keys(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error('timeout')), KEYS_TIMEOUT_MS);
      }),
    ]);
    const lists = (Array.isArray(keys) && keys.every((k) => Array.isArray(k)) ? keys : [keys]) as string[][];
    return [...new Set(lists.flat())].sort();
  } catch {
    return [];
  } finally {
    clearTimeout(timer);
  }
}

/** Completions for the text before the cursor, as readline's completer wants them. */
export async function complete(line: string, ctx: CompleteContext): Promise<CompleterResult> {
  // A magic's name.
  const magic = /^\s*(%%?\w*)$/.exec(line);
  if (magic) return [matching(MAGICS, magic[1]), magic[1]];

  // Inside view['… or view["…: a name on the engines, closed with the quote and bracket.
  const index = /([A-Za-z_$][\w$]*(?:\.[A-Za-z_$][\w$]*)*)\[\s*(['"])([\w$]*)$/.exec(line);
  if (index) {
    const target = resolvePath(index[1]);
    if (target instanceof DirectView) {
      const names = await engineNames(target);
      return [matching(names, index[3]).map((n) => `${n}${index[2]}]`), index[3]];
    }
  }

  // The code of %px (after its options), or any line that goes to the engines.
  const px = /^\s*%px\s+(?:--\S+(?:\s+\d[\d,-]*)?\s+)*(.*)$/.exec(line);
  if (px || ctx.engineLine) {
    const code = px ? px[1] : line;
    const word = /[A-Za-z_$][\w$]*$/.exec(code)?.[0] ?? '';
    // Attributes of engine values are not known here.
    if (code.slice(0, code.length - word.length).endsWith('.')) return [[], word];
    return [matching(await engineNames(ctx.view()), word), word];
  }

  // JavaScript: a property after a dot, else a name of the global scope.
  const member = /([A-Za-z_$][\w$]*(?:\.[A-Za-z_$][\w$]*)*)\.([\w$]*)$/.exec(line);
  if (member) {
    const obj = resolvePath(member[1]);
    if (obj === undefined || obj === null) return [[], member[2]];
    return [matching(propertyNames(obj), member[2]), member[2]];
  }
  const word = /[A-Za-z_$][\w$]*$/.exec(line)?.[0] ?? '';
  if (word === '' && line.trim() !== '') return [[], ''];
  return [matching([...propertyNames(globalThis), ...JS_KEYWORDS], word), word];
}
