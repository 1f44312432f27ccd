/**
 * The local language of the console: JavaScript, or TypeScript when the input does not
 * parse as JavaScript (esbuild strips the types), with top-level await. Code runs in this
 * process's own global scope, so values pulled from the engines are ordinary local values.
 *
 * The REPL rewrites (top-level let/const/class made redeclarable, the top-level-await
 * wrapper, static imports as dynamic ones) are the node engine's, so a line behaves the
 * same at the console as in `%px` on a node engine.
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import vm from 'node:vm';
import type * as Esbuild from 'esbuild';
import { quietLoaderWarning } from '../util/quietLoaderWarning.js';
import { rewriteTopLevel } from '../util/topLevel.js';

export type Compiled =
  /** `isAsync`: running `code` gives a promise of `{ value }` (the top-level-await wrapper). */
  | { kind: 'ok'; code: string; isAsync: boolean }
  /** The input stops in the middle of a statement: read another line. */
  | { kind: 'incomplete' }
  | { kind: 'error'; error: Error };

let esbuild: typeof Esbuild | undefined;

/** `import()` in a line uses the ordinary loader (Node >= 20.12). */
const DYNAMIC_IMPORT = vm.constants?.USE_MAIN_CONTEXT_DEFAULT_LOADER;

/** JavaScript for TypeScript `code` (imports kept as written); throws esbuild's error when it does not parse. */
export function stripTypes(code: string): string {
  esbuild ??= createRequire(import.meta.url)('esbuild') as typeof Esbuild;
  return esbuild.transformSync(code, {
    loader: 'ts',
    target: 'esnext',
    logLevel: 'silent',
    tsconfigRaw: { compilerOptions: { verbatimModuleSyntax: true } },
  }).code;
}

interface AcornError extends SyntaxError {
  pos?: number;
}

/** Did the JavaScript parser stop because the input ended (e.g. after `function f() {`)? */
function endsEarly(e: unknown, source: string): boolean {
  const err = e as AcornError;
  if (!(err instanceof SyntaxError)) return false;
  if (/^Unterminated (template|comment)/.test(err.message)) return true;
  return typeof err.pos === 'number' && err.pos >= source.trimEnd().length;
}

/** Did esbuild stop because the input ended? */
function tsEndsEarly(e: unknown): boolean {
  const errors = (e as { errors?: { text?: string }[] } | null)?.errors;
  return Array.isArray(errors) && errors.some((x) => /Unexpected end of file|Unterminated (template|comment)/.test(x.text ?? ''));
}

function ok(r: { code: string; isAsync: boolean }): Compiled {
  return { kind: 'ok', code: r.code, isAsync: r.isAsync };
}

/**
 * Compiles a line (or the lines of an unfinished statement). `force` reports an incomplete
 * input as the syntax error it is, instead of asking for more lines.
 */
export function compile(source: string, opts: { force?: boolean } = {}): Compiled {
  // `{ a: 1 }` is an object, as in Node's REPL, not a block with a label.
  if (/^\s*\{/.test(source) && !/;\s*$/.test(source)) {
    try {
      return ok(rewriteTopLevel(`(${source}\n)`));
    } catch {
      /* not an expression: go on with the source as written */
    }
  }
  let jsError: unknown;
  try {
    return ok(rewriteTopLevel(source));
  } catch (e) {
    jsError = e;
  }
  let tsError: unknown;
  try {
    return ok(rewriteTopLevel(stripTypes(source)));
  } catch (e) {
    tsError = e;
  }
  if (!opts.force && (endsEarly(jsError, source) || tsEndsEarly(tsError))) return { kind: 'incomplete' };
  return { kind: 'error', error: jsError instanceof Error ? jsError : new SyntaxError(String(jsError)) };
}

/**
 * Runs compiled code in the global scope. SIGINT stops synchronous code (`while (true) {}`)
 * with ERR_SCRIPT_EXECUTION_INTERRUPTED. Returns the completion value, or for async code the
 * promise of `{ value }`.
 */
export function runCompiled(c: { code: string }, filename: string): unknown {
  quietLoaderWarning();
  const script = new vm.Script(c.code, { filename, importModuleDynamically: DYNAMIC_IMPORT });
  return script.runInThisContext({ breakOnSigint: true, displayErrors: false });
}

export function isInterrupted(e: unknown): boolean {
  return (e as { code?: unknown } | null)?.code === 'ERR_SCRIPT_EXECUTION_INTERRUPTED';
}

export function isThenable(v: unknown): v is PromiseLike<unknown> {
  return (typeof v === 'object' || typeof v === 'function') && v !== null && typeof (v as PromiseLike<unknown>).then === 'function';
}

/** Puts the preloaded names in the global scope (writable, so a line can rebind them), and a `require`. */
export function installGlobals(names: Record<string, unknown>, cwd = process.cwd()): void {
  const g = globalThis as Record<string, unknown>;
  if (!('require' in g)) names = { require: createRequire(path.join(cwd, '[console]')), ...names };
  for (const [k, v] of Object.entries(names)) {
    Object.defineProperty(g, k, { value: v, writable: true, configurable: true, enumerable: false });
  }
}
