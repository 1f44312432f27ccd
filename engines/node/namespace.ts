/**
 * The engine's namespace: one persistent vm context, set up like Node's REPL with
 * `useGlobal: false` (its own builtins, the process globals copied in), plus the operations
 * requests need. Values in and out are plain JS values; wire encoding lives in requests.ts.
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import vm from 'node:vm';
import { functionExpression } from '../../core/serialize/serialize.js';
import { NameError, UnmetDependencyError } from './errors.js';
import { awaitInterruptible, callInterruptible, isThenable, runScript } from './interrupt.js';
import { realmAdopter } from './realm.js';
import { quietLoaderWarning } from '../../core/util/quietLoaderWarning.js';
import { needsRewrite, rewriteTopLevel } from '../../core/util/topLevel.js';
import { stripTypes } from './typescript.js';

/** `import()` inside user code uses the ordinary loader (Node >= 20.12). */
const DYNAMIC_IMPORT = vm.constants?.USE_MAIN_CONTEXT_DEFAULT_LOADER;

quietLoaderWarning();

const IDENTIFIER = /^[\p{ID_Start}$_][\p{ID_Continue}$\u200c\u200d]*$/u;
const NOT_NAMES = new Set(['this', 'null', 'true', 'false', 'arguments', 'super', 'new', 'import']);

interface Prepared {
  script: vm.Script;
  isAsync: boolean;
  declared: string[];
}

function isSyntaxError(e: unknown): boolean {
  return (e as { name?: unknown } | null)?.name === 'SyntaxError';
}

/** The name a `require` entry is bound to: `node:os` -> os, `@scope/a-b` -> a_b, `lodash.chunk` -> lodash_chunk. */
export function bindingName(specifier: string): string {
  const last = specifier.replace(/^node:/, '').replace(/\/+$/, '').split('/').pop() ?? specifier;
  const name = last.replace(/[^\w$]/g, '_');
  return /^[0-9]/.test(name) ? `_${name}` : name || '_';
}

export class Namespace {
  private ctx!: vm.Context;
  /** Names present right after setup (copied process globals, require, module, ...): never user keys. */
  private builtins!: Set<string>;
  /** Names user code declared, pushed or imported; these count as keys even when they shadow a builtin. */
  private userNames!: Set<string>;
  private functions!: Map<string, unknown>;
  private adopt!: (v: unknown) => unknown;
  private readonly require: NodeJS.Require;

  constructor(private readonly cwd = process.cwd()) {
    this.require = createRequire(path.join(cwd, '<engine>'));
    this.clear();
  }

  /** A fresh context; everything user-defined is forgotten. */
  clear(): void {
    const sandbox = Object.create(null) as vm.Context; // no Object.prototype from this realm leaking in as globals
    this.ctx = vm.createContext(sandbox, { name: 'multiengine', importModuleDynamically: DYNAMIC_IMPORT });
    const own = new Set(vm.runInContext('Object.getOwnPropertyNames(globalThis)', this.ctx) as string[]);
    for (const name of Object.getOwnPropertyNames(globalThis)) {
      // The context has a console of its own (V8's, which only talks to an inspector): replace it.
      if ((own.has(name) && name !== 'console') || name === 'global') continue;
      const d = Object.getOwnPropertyDescriptor(globalThis, name)!;
      if (d.get || d.set) {
        // Lazy globals (fetch, crypto, ...) check `this`: read them from the real global,
        // and let an assignment replace them in this context only.
        const { get } = d;
        const ctx = this.ctx;
        Object.defineProperty(ctx, name, {
          configurable: true,
          enumerable: d.enumerable,
          get: () => get?.call(globalThis),
          set(v: unknown) {
            Object.defineProperty(ctx, name, { value: v, writable: true, enumerable: true, configurable: true });
          },
        });
      } else {
        Object.defineProperty(this.ctx, name, d);
      }
    }
    const module = { id: '<engine>', filename: path.join(this.cwd, '<engine>'), exports: {}, loaded: false, children: [], paths: this.require.resolve.paths('x') ?? [] };
    const extra: Record<string, unknown> = {
      global: vm.runInContext('globalThis', this.ctx),
      require: this.require,
      module,
      exports: module.exports,
      __filename: module.filename,
      __dirname: this.cwd,
    };
    for (const [k, v] of Object.entries(extra)) Object.defineProperty(this.ctx, k, { value: v, writable: true, configurable: true, enumerable: false });
    this.builtins = new Set(Object.getOwnPropertyNames(this.ctx));
    this.userNames = new Set();
    this.functions = new Map();
    this.adopt = realmAdopter(this.ctx);
  }

  /**
   * Runs `code` (JavaScript or TypeScript); resolves to its completion value, boxed so that
   * a promise value is shown as a promise (as the REPL does) instead of being awaited.
   */
  execute(code: string, label = 'execute'): { value: unknown } | Promise<{ value: unknown }> {
    const prepared = this.prepare(code, `[${label}]`);
    for (const n of prepared.declared) this.userNames.add(n);
    const value = runScript(prepared.script, this.ctx);
    if (!prepared.isAsync) return { value };
    return awaitInterruptible(value as Promise<{ value: unknown } | undefined>).then((boxed) => ({ value: (boxed ?? { value: undefined }).value }));
  }

  /**
   * JS first; rewritten when it has top-level declarations or await. When it is not valid
   * JavaScript it is tried as TypeScript, and if that fails too the JavaScript error is reported.
   */
  private prepare(source: string, filename: string): Prepared {
    // A hashbang is only legal at the very start, which a rewrite may move; blank it.
    const code = source.startsWith('#!') ? `//${source.slice(2)}` : source;
    let jsError: unknown;
    try {
      return this.prepareJs(code, filename);
    } catch (e) {
      if (!isSyntaxError(e)) throw e;
      jsError = e;
    }
    let js: string;
    try {
      js = stripTypes(code);
    } catch {
      throw jsError;
    }
    try {
      return this.prepareJs(js, filename);
    } catch (e) {
      throw isSyntaxError(e) ? jsError : e;
    }
  }

  private prepareJs(code: string, filename: string): Prepared {
    if (!needsRewrite(code)) return { script: this.compile(code, filename), isAsync: false, declared: [] };
    let rewritten;
    try {
      rewritten = rewriteTopLevel(code);
    } catch (e) {
      if (!isSyntaxError(e)) throw e;
      // acorn said no; V8 may still accept it (or gives the error message users know).
      return { script: this.compile(code, filename), isAsync: false, declared: [] };
    }
    return { script: this.compile(rewritten.code, filename), isAsync: rewritten.isAsync, declared: rewritten.declared };
  }

  private compile(code: string, filename: string): vm.Script {
    return new vm.Script(code, { filename, importModuleDynamically: DYNAMIC_IMPORT });
  }

  /**
   * A function from its source text, evaluated in the context so free names are globals there.
   * Function and class literals are compiled once per source; other expressions (e.g. a bare
   * name) are evaluated each time since what they name can change.
   */
  makeFunction(src: string, name = ''): unknown {
    const key = `${name}\0${src}`;
    const cached = this.functions.get(key);
    if (cached !== undefined) return cached;
    const expr = functionExpression(src, name);
    let value: unknown;
    try {
      value = runScript(this.compile(expr, '[function]'), this.ctx);
    } catch (e) {
      if (!isSyntaxError(e)) throw e;
      let js: string;
      try {
        js = stripTypes(expr);
      } catch {
        throw e;
      }
      value = runScript(this.compile(js, '[function]'), this.ctx);
    }
    if (!/^[\p{ID_Continue}$\s]*$/u.test(src)) this.functions.set(key, value);
    return value;
  }

  /** A decoded value rebuilt in the context's realm (see realm.ts). */
  adoptValue(value: unknown): unknown {
    return this.adopt(value);
  }

  /**
   * Calls `fnSrc` (source of a function, evaluated in the context) with `args`. A thenable
   * result is awaited: the answer is then a Promise (check with isThenable); otherwise it is
   * the value itself, so a synchronous function costs no trip through the microtask queue.
   */
  apply(fnSrc: string, args: unknown[]): unknown {
    const fn = this.makeFunction(fnSrc);
    if (typeof fn !== 'function') throw new TypeError(`apply: fn is ${fn === null ? 'null' : typeof fn}, not a function`);
    const result = callInterruptible(() => (fn as (...a: unknown[]) => unknown)(...args));
    return isThenable(result) ? awaitInterruptible(result) : result;
  }

  /** Loads each module (require, else import() for ES modules) and binds it under bindingName(). */
  async importModules(specifiers: readonly string[]): Promise<void> {
    for (const spec of specifiers) {
      let mod: unknown;
      try {
        mod = await this.load(spec);
      } catch (e) {
        const why = ((e as Error)?.message ?? String(e)).split('\n')[0];
        throw new UnmetDependencyError(`cannot import '${spec}': ${why}`);
      }
      this.set(bindingName(spec), mod);
    }
  }

  private async load(spec: string): Promise<unknown> {
    try {
      return this.require(spec);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'ERR_REQUIRE_ESM' && code !== 'ERR_REQUIRE_ASYNC_MODULE' && code !== 'ERR_PACKAGE_PATH_NOT_EXPORTED') throw e;
    }
    // An ES module: resolve from the engine's cwd when require's resolver can, else from here.
    let target = spec;
    try {
      target = pathToFileURL(this.require.resolve(spec)).href;
    } catch {
      /* import() resolves it or reports why not */
    }
    return import(target);
  }

  /** Binds `name` as a global of the namespace. */
  set(name: string, value: unknown): void {
    if (!Reflect.set(this.ctx, name, value)) {
      Object.defineProperty(this.ctx, name, { value, writable: true, enumerable: true, configurable: true });
    }
    this.userNames.add(name);
  }

  /** The value of global `name`; NameError when there is none. */
  get(name: string): unknown {
    if (Object.prototype.hasOwnProperty.call(this.ctx, name)) return (this.ctx as Record<string, unknown>)[name];
    // Builtins of the context, or lexical bindings of code that ran without a rewrite.
    if (!IDENTIFIER.test(name) || NOT_NAMES.has(name)) throw new NameError(name);
    try {
      return vm.runInContext(name, this.ctx);
    } catch (e) {
      if ((e as { name?: unknown })?.name === 'ReferenceError' || isSyntaxError(e)) throw new NameError(name);
      throw e;
    }
  }

  /** User-defined names, sorted: no builtins, no engine internals. */
  keys(): string[] {
    const names = new Set<string>();
    for (const n of Object.getOwnPropertyNames(this.ctx)) if (!this.builtins.has(n)) names.add(n);
    for (const n of this.userNames) if (Object.prototype.hasOwnProperty.call(this.ctx, n)) names.add(n);
    return [...names].sort();
  }

  /** The context itself, for tests and debugging. */
  get context(): vm.Context {
    return this.ctx;
  }
}
