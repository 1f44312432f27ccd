/**
 * The node engine's namespace, driven in-process through the same RequestHandler the engine
 * uses, so wire encoding/decoding is exercised too.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createMessage, type ContentMap, type Json, type Message, type WorkRequestType } from '../../../core/protocol/messages.js';
import { decodeValue, encodeValue, type Encoder } from '../../../core/serialize/serialize.js';
import { describeError } from '../../../engines/node/errors.js';
import { bindingName, Namespace } from '../../../engines/node/namespace.js';
import { RequestHandler } from '../../../engines/node/requests.js';
import { rewriteTopLevel } from '../../../core/util/topLevel.js';

type Reply = { [key: string]: unknown };

/** A namespace plus helpers that go through RequestHandler and report errors as the engine would. */
function engine() {
  const ns = new Namespace();
  const handler = new RequestHandler(ns);
  const call = async <T extends WorkRequestType>(type: T, content: ContentMap[T], buffers: Uint8Array[] = []): Promise<{ content: Reply; buffers: Uint8Array[] }> => {
    const msg = createMessage(type, content, { session: 'test', buffers }) as Message;
    try {
      return await handler.handle(msg);
    } catch (e) {
      return { content: { ...describeError(e) }, buffers: [] };
    }
  };
  const execute = (code: string) => call('execute_request', { code }).then((r) => r.content);
  const ok = async (code: string) => {
    const r = await execute(code);
    assert.equal(r.status, 'ok', `execute ${JSON.stringify(code)} failed: ${JSON.stringify(r)}`);
    return r;
  };
  const push = (values: Record<string, unknown>) => {
    const enc: Encoder = { buffers: [] };
    const tree: { [k: string]: Json } = {};
    for (const [k, v] of Object.entries(values)) tree[k] = encodeValue(v, enc, k);
    return call('push_request', { ns: tree }, enc.buffers).then((r) => r.content);
  };
  const pull = async (...names: string[]) => {
    const r = await call('pull_request', { names });
    if (r.content.status !== 'ok') return { error: r.content };
    return { values: (r.content.values as Json[]).map((v) => decodeValue(v, r.buffers)) };
  };
  const apply = async (fn: string | ((...a: never[]) => unknown), args: unknown[], require?: string[]) => {
    const enc: Encoder = { buffers: [] };
    const content: ContentMap['apply_request'] = { fn: typeof fn === 'string' ? fn : fn.toString(), args: args.map((a, i) => encodeValue(a, enc, `args[${i}]`)) };
    if (require) content.require = require;
    const r = await call('apply_request', content, enc.buffers);
    return r.content.status === 'ok' ? { result: decodeValue(r.content.result as Json, r.buffers) } : { error: r.content };
  };
  return { ns, handler, call, execute, ok, push, pull, apply };
}

describe('node engine namespace: execute', () => {
  it('keeps sloppy-mode assignments between executes', async () => {
    const e = engine();
    await e.ok('a = 5');
    assert.equal((await e.ok('a * 2')).result, '10');
    assert.deepEqual(await e.pull('a'), { values: [5] });
  });

  it('keeps top-level let/const/class, and running them again does not throw', async () => {
    const e = engine();
    const code = 'let x = 1; const y = [1, 2]; class C { m() { return 3 } }';
    await e.ok(code);
    await e.ok(code);
    await e.ok('let x = 10; const y = 20; class C { m() { return 4 } }');
    assert.equal((await e.ok('x + y + new C().m()')).result, '34');
    assert.deepEqual(await e.pull('x', 'y'), { values: [10, 20] });
    // `let z;` run again resets z, as a fresh binding would
    await e.ok('let z = 5');
    await e.ok('let z;');
    assert.deepEqual(await e.pull('z'), { values: [undefined] });
  });

  it('supports top-level await, with declarations and functions persisting', async () => {
    const e = engine();
    const r = await e.ok('const r = await new Promise((res) => setTimeout(() => res(7), 5)); function twice(v) { return 2 * v } twice(r)');
    assert.equal(r.result, '14');
    assert.equal((await e.ok('twice(r) + 1')).result, '15');
    await e.ok('if (true) { var nested = await Promise.resolve("n") } for (var i = 0; i < 3; i++) {}');
    assert.deepEqual(await e.pull('nested', 'i'), { values: ['n', 3] });
    // the value of an async cell that is a promise is shown, not awaited
    // (the test runner's async hooks add symbol fields to promises, hence the loose match)
    assert.match(String((await e.ok('await 1; Promise.resolve(3)')).result), /^Promise \{\s+3\b/);
  });

  it('runs TypeScript by stripping types, and reports the JavaScript error when both fail', async () => {
    const e = engine();
    assert.equal((await e.ok('interface P { a: number }\nlet n: number = 3;\nconst p: P = { a: n };\np.a * 2')).result, '6');
    assert.equal((await e.ok('enum Color { Red, Green }\nfunction f(c: Color): string { return Color[c] }\nf(Color.Green)')).result, "'Green'");
    await e.ok('let n: number = 4;'); // TS re-declaration works too
    assert.deepEqual(await e.pull('n'), { values: [4] });
    const bad = await e.execute('let q = ;');
    assert.equal(bad.status, 'error');
    assert.equal(bad.ename, 'SyntaxError');
    assert.match(String(bad.evalue), /Unexpected token ';'/);
  });

  it('shows the last value with util.inspect and omits undefined', async () => {
    const e = engine();
    assert.equal((await e.ok("({ a: 1, b: 'x' })")).result, "{ a: 1, b: 'x' }");
    assert.equal((await e.ok('new Map([[1, 2]])')).result, 'Map(1) { 1 => 2 }');
    assert.match(String((await e.ok('Promise.resolve(3)')).result), /^Promise \{\s+3\b/);
    const r = await e.ok('let u = 1');
    assert.equal('result' in r, false);
    assert.equal('result' in (await e.ok('undefined')), false);
  });

  it('counts executions from 1 and keeps the count across clear', async () => {
    const e = engine();
    assert.equal((await e.ok('1')).execution_count, 1);
    await e.execute('throw new Error("x")');
    assert.equal((await e.ok('1')).execution_count, 3);
    await e.call('clear_request', {});
    assert.equal((await e.ok('1')).execution_count, 4);
  });

  it('reports errors with name, message and a traceback without engine frames', async () => {
    const e = engine();
    const r = await e.execute('function boom() { return missing + 1 }\nboom()');
    assert.equal(r.ename, 'ReferenceError');
    assert.equal(r.evalue, 'missing is not defined');
    const tb = r.traceback as string[];
    assert.ok(tb.some((l) => /at boom \(\[execute 1\]:1:/.test(l)), tb.join('\n'));
    assert.ok(!tb.some((l) => /engines[/\\]node|node:internal|node:vm/.test(l)), tb.join('\n'));

    const t = await e.execute('class MyErr extends Error { constructor() { super("custom"); this.name = "MyErr" } }\nthrow new MyErr()');
    assert.deepEqual([t.ename, t.evalue], ['MyErr', 'custom']);

    const five = await e.execute('throw 5');
    assert.deepEqual([five.ename, five.evalue, five.traceback], ['Error', '5', []]);
    const rejected = await e.execute('await Promise.reject(new TypeError("nope"))');
    assert.deepEqual([rejected.ename, rejected.evalue], ['TypeError', 'nope']);
  });

  it('supports dynamic import() and static imports', async () => {
    const e = engine();
    assert.equal((await e.ok('(await import("node:path")).posix.join("a", "b")')).result, "'a/b'");
    assert.equal((await e.ok('import { basename } from "node:path";\nimport * as os from "node:os";\nbasename("/x/y.txt") + typeof os.cpus')).result, "'y.txtfunction'");
    assert.equal((await e.ok('basename("/q/r")')).result, "'r'");
  });

  it('gives user code the process globals, a capturing console and require', async () => {
    const e = engine();
    const r = await e.ok('[typeof require("node:os").cpus, typeof process.pid, typeof Buffer.from, typeof setTimeout, typeof setImmediate, typeof queueMicrotask, typeof URL, typeof TextEncoder, typeof structuredClone, typeof fetch, typeof AbortController, typeof performance.now, typeof module, global === globalThis, typeof console.log].join()');
    assert.equal(r.result, "'function,number,function,function,function,function,function,function,function,function,function,function,object,true,function'");
    // its own builtins, so values it makes are of its realm
    assert.equal((await e.ok('[] instanceof Array && Object.getPrototypeOf({}) === Object.prototype')).result, 'true');
  });
});

describe('node engine namespace: values', () => {
  it('applies functions whose free names are namespace globals', async () => {
    const e = engine();
    await e.push({ a: 5, b: 10 });
    assert.deepEqual(await e.apply((x: number) => (globalThis as unknown as { a: number; b: number }).a + x, [27]), { result: 32 });
    assert.deepEqual(await e.apply('(x) => a + b + x', [27]), { result: 42 });
    assert.deepEqual(await e.apply('async (x) => { await new Promise((r) => setTimeout(r, 5)); return x * 2 }', [21]), { result: 42 });
    assert.deepEqual(await e.apply('', []), { result: null });
    assert.deepEqual(await e.apply('function add(x: number, y: number): number { return x + y }', [2, 3]), { result: 5 }, 'TypeScript function source');
    const thrown = await e.apply('() => { throw new RangeError("bad") }', []);
    assert.deepEqual([thrown.error?.ename, thrown.error?.evalue], ['RangeError', 'bad']);
    const tb = thrown.error?.traceback as string[];
    assert.ok(tb.some((l) => l.includes('[function]:1')), tb.join('\n'));
    assert.ok(!tb.some((l) => /multiengine:|node:|engines[/\\]node/.test(l)), tb.join('\n'));
  });

  it('compiles an apply function once per source', async () => {
    const e = engine();
    const src = '(x) => { globalThis.calls = (globalThis.calls ?? 0) + 1; return x }';
    const f1 = e.ns.makeFunction(src);
    assert.equal(e.ns.makeFunction(src), f1);
    await e.apply(src, [1]);
    await e.apply(src, [2]);
    assert.deepEqual(await e.pull('calls'), { values: [2] });
  });

  it('binds required modules and fails with UnmetDependencyError for missing ones', async () => {
    const e = engine();
    assert.deepEqual(await e.apply('() => typeof os.cpus', [], ['node:os']), { result: 'function' });
    assert.ok(e.ns.keys().includes('os'));
    const missing = await e.apply('() => 1', [], ['no-such-module-multiengine']);
    assert.equal(missing.error?.ename, 'UnmetDependencyError');
    assert.match(String(missing.error?.evalue), /no-such-module-multiengine/);
    assert.equal(bindingName('node:os'), 'os');
    assert.equal(bindingName('lodash.chunk'), 'lodash_chunk');
    assert.equal(bindingName('@scope/some-pkg'), 'some_pkg');
    assert.equal(bindingName('lodash/chunk'), 'chunk');
  });

  it('pushes functions that run in the namespace and pulls them back as callables', async () => {
    const e = engine();
    assert.equal((await e.push({ f: (x: number) => 2 * x ** 4, k: 3 })).status, 'ok');
    await e.ok('y = f(4.0)');
    assert.deepEqual(await e.pull('y'), { values: [512] });
    await e.push({ g: new Function('x', 'return x + k') });
    assert.equal((await e.ok('g(1)')).result, '4', 'free name k resolves in the namespace');
    const pulled = await e.pull('f');
    const f = (pulled.values as unknown[])[0] as (x: number) => number;
    assert.equal(typeof f, 'function');
    assert.equal(f(2), 32);
  });

  it('moves typed arrays both ways as typed arrays of the right realm', async () => {
    const e = engine();
    await e.ok('ta = new Float64Array([1.5, 2.5, 3.5]); u8 = new Uint8Array([1, 2]); big = new BigInt64Array([5n])');
    const { values } = await e.pull('ta', 'u8', 'big');
    assert.ok(values![0] instanceof Float64Array);
    assert.deepEqual(Array.from(values![0] as Float64Array), [1.5, 2.5, 3.5]);
    assert.ok(values![1] instanceof Uint8Array);
    assert.deepEqual(Array.from(values![1] as Uint8Array), [1, 2]);
    assert.deepEqual(Array.from(values![2] as BigInt64Array), [5n]);

    await e.push({ xs: new Int32Array([7, 8, 9]), list: [1, { a: [2] }], m: new Map([['k', 1]]) });
    const r = await e.ok('[xs instanceof Int32Array, xs.length, xs[2], list instanceof Array, list[1].a instanceof Array, m instanceof Map, m.get("k")].join()');
    assert.equal(r.result, "'true,3,9,true,true,true,1'");
  });

  it('pull: NameError for a missing name, SerializationError naming the variable and its type', async () => {
    const e = engine();
    const missing = await e.pull('nope');
    assert.deepEqual([missing.error?.ename, missing.error?.evalue], ['NameError', "name 'nope' is not defined"]);
    await e.ok('class Foo {}; foo = new Foo(); sym = Symbol("s")');
    const bad = await e.pull('foo');
    assert.equal(bad.error?.ename, 'SerializationError');
    assert.match(String(bad.error?.evalue), /\bfoo\b/);
    assert.match(String(bad.error?.evalue), /Foo/);
    const s = await e.pull('sym');
    assert.equal(s.error?.ename, 'SerializationError');
    assert.match(String(s.error?.evalue), /\bsym\b.*symbol/);
    // builtins of the context can still be read
    assert.deepEqual(await e.pull('NaN'), { values: [NaN] });
  });

  it('keys lists only user-defined names, sorted', async () => {
    const e = engine();
    assert.deepEqual(e.ns.keys(), []);
    await e.ok('b = 1; let a = 2; const c = 3; class K {}; function fn() {}; var v = 4');
    await e.push({ pushed: 1 });
    await e.ok('await 0; let later = 1');
    const r = await e.call('keys_request', {});
    assert.deepEqual(r.content, { status: 'ok', keys: ['K', 'a', 'b', 'c', 'fn', 'later', 'pushed', 'v'] });
    // a user binding that shadows a copied global still counts as a key
    await e.ok('let fetch = 1');
    assert.ok(e.ns.keys().includes('fetch'));
  });

  it('clear gives a fresh namespace', async () => {
    const e = engine();
    await e.ok('a = 1; let b = 2');
    assert.equal((await e.call('clear_request', {})).content.status, 'ok');
    assert.deepEqual(e.ns.keys(), []);
    assert.equal((await e.pull('a')).error?.ename, 'NameError');
    assert.equal((await e.execute('b')).ename, 'ReferenceError');
    await e.ok('let b = 3'); // no clash with the old context's b
    assert.deepEqual(await e.pull('b'), { values: [3] });
  });
});

describe('node engine top-level rewrites', () => {
  it('turns top-level lexical declarations into var, leaving nested ones alone', () => {
    const r = rewriteTopLevel('let a = 1, b;\nconst c = 2;\nclass D {}\n{ let inner = 1 }\nfor (let i = 0; i < 1; i++) {}');
    assert.equal(r.isAsync, false);
    assert.equal(r.code, 'var a = 1, b = undefined;\nvar c = 2;\nvar D = class D {};\n{ let inner = 1 }\nfor (let i = 0; i < 1; i++) {}');
    assert.deepEqual(r.declared.sort(), ['D', 'a', 'b', 'c']);
  });

  it('wraps top-level await, hoisting declarations and returning the last expression boxed', () => {
    const r = rewriteTopLevel('const { a, b: [c] } = await f();\nfunction g() {}\nclass K {}\na + c');
    assert.equal(r.isAsync, true);
    assert.deepEqual(r.declared.sort(), ['K', 'a', 'c', 'g']);
    assert.match(r.code, /^var [a-zA-Z, ]+; \(async \(\) => \{ /);
    assert.match(r.code, /void \(\{ a, b: \[c\] \} = \(await f\(\)\)\);/);
    assert.match(r.code, /this\.g = g; function g\(\) \{\}/);
    assert.match(r.code, /K = class K \{\};/);
    assert.match(r.code, /return \{ value: \(a \+ c\) \};\n\}\)\(\)$/);
    // line numbers are kept: the user's second line is still the second line
    assert.equal(r.code.split('\n')[1], 'this.g = g; function g() {}');
  });
});
