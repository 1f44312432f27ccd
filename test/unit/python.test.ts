/**
 * The python engine from the TypeScript side: the real engine process speaks to the real
 * TypeScript codec. Values encoded by core/serialize cross into Python and back, and Python
 * values decode into the expected TypeScript values (the mapping table of docs/protocol.md, in
 * both directions). The engine's own unittest suite is a runner step of its own: `npm run
 * test:python`, part of `npm test`.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import type { ContentMap, Json, Message, MsgType } from '../../core/protocol/messages.js';
import { NDArray } from '../../core/serialize/ndarray.js';
import { decodeValue, encodeValue } from '../../core/serialize/serialize.js';
import { FakeController, noPython, PYTHON } from './engines/fakeController.js';

const hasNumpy = !noPython && spawnSync(PYTHON, ['-c', 'import numpy']).status === 0;

/** The python engine on the fake controller of the engine tests, with the TypeScript codec on this side. */
class Harness {
  readonly fc = new FakeController(200, 0, 'python');

  async start(): Promise<void> {
    await this.fc.listen();
    await this.fc.startEngine(['--id', '0']);
    const reg = (await this.fc.main.next((m) => m.header.msg_type === 'registration_request')).msg;
    assert.equal((reg.content as ContentMap['registration_request']).kernel, 'python');
  }

  request<T extends MsgType>(type: T, content: ContentMap[T], buffers: Uint8Array[] = []): Promise<Message> {
    return this.fc.request(type, content, { buffers, metadata: { targets: [0] } });
  }

  async ok<T extends MsgType>(type: T, content: ContentMap[T], buffers: Uint8Array[] = []): Promise<Message> {
    const reply = await this.request(type, content, buffers);
    assert.equal((reply.content as { status: string }).status, 'ok', JSON.stringify(reply.content));
    return reply;
  }

  async push(ns: Record<string, unknown>): Promise<void> {
    const enc = { buffers: [] as Uint8Array[] };
    const tree: Record<string, Json> = {};
    for (const [k, v] of Object.entries(ns)) tree[k] = encodeValue(v, enc, k);
    await this.ok('push_request', { ns: tree }, enc.buffers);
  }

  async pull(names: string[]): Promise<unknown[]> {
    const reply = await this.ok('pull_request', { names });
    const values = (reply.content as { values: Json[] }).values;
    return values.map((v) => decodeValue(v, reply.buffers));
  }

  /** repr() of a Python expression evaluated on the engine. */
  async py(expr: string): Promise<string | undefined> {
    const reply = await this.ok('execute_request', { code: expr });
    return (reply.content as { result?: string }).result;
  }

  async stop(): Promise<void> {
    this.fc.send('shutdown_request', {});
    await this.fc.exitCode(3000).catch(() => undefined); // close() kills it if it did not exit
    await this.fc.close();
  }
}

describe('the python engine and the TypeScript codec', { skip: noPython }, () => {
  const h = new Harness();
  before(async () => {
    await h.start();
  });
  after(async () => {
    await h.stop();
  });

  test('TypeScript values cross into Python as the mapping table says', async () => {
    await h.push({
      n: null, b: true, i: 42, f: 1.5, big: 123456789012345678901234567890n, nan: NaN, inf: -Infinity,
      s: 'héllo ✓', arr: [1, [2, 'x']], obj: { a: 1, b: { c: [true] } }, tagged: { $t: 'looks like a tag' },
      u8: new Uint8Array([1, 2, 255]), buf: Buffer.from('buf'), date: new Date('2026-01-02T03:04:05.678Z'),
      map: new Map<unknown, unknown>([['k', 1], [2, 'v']]), set: new Set([1, 'a']), undef: undefined,
      fn: (x: number) => 2 * x, err: new RangeError('out of range'), re: /ab+c/i,
    });
    const types = await h.py(
      '[type(x).__name__ for x in (n, b, i, f, big, nan, inf, s, arr, obj, tagged, u8, buf, date, map, set, undef, fn, err, re)]',
    );
    assert.equal(
      types,
      "['NoneType', 'bool', 'int', 'float', 'int', 'float', 'float', 'str', 'list', 'dict', 'dict', 'bytes', 'bytes', " +
        "'datetime', 'dict', 'set', 'NoneType', 'JSFunction', 'JSError', 'Pattern']",
    );
    assert.equal(await h.py('(big, nan != nan, inf, s, arr, obj, tagged, u8, buf, map, sorted(map_ for map_ in map if isinstance(map_, int)))'),
      "(123456789012345678901234567890, True, -inf, 'héllo ✓', [1, [2, 'x']], {'a': 1, 'b': {'c': [True]}}, {'$t': 'looks like a tag'}, " +
      "b'\\x01\\x02\\xff', b'buf', {'k': 1, 2: 'v'}, [2])");
    assert.equal(await h.py('date.isoformat()'), "'2026-01-02T03:04:05.678000+00:00'");
    assert.equal(await h.py("(err.name, err.message, bool(re.match('ABBC')))"), "('RangeError', 'out of range', True)");
  });

  test('and come back as the same TypeScript values (or their documented stand-ins)', async () => {
    const names = ['n', 'b', 'i', 'f', 'big', 'nan', 'inf', 's', 'arr', 'obj', 'tagged', 'u8', 'buf', 'date', 'map', 'set', 'undef', 'fn', 'err', 're'];
    const got = await h.pull(names);
    const byName = Object.fromEntries(names.map((n, k) => [n, got[k]]));
    assert.deepEqual(byName.n, null);
    assert.equal(byName.b, true);
    assert.equal(byName.i, 42);
    assert.equal(byName.f, 1.5);
    assert.equal(byName.big, 123456789012345678901234567890n);
    assert.ok(Number.isNaN(byName.nan));
    assert.equal(byName.inf, -Infinity);
    assert.equal(byName.s, 'héllo ✓');
    assert.deepEqual(byName.arr, [1, [2, 'x']]);
    assert.deepEqual(byName.obj, { a: 1, b: { c: [true] } });
    assert.deepEqual(byName.tagged, { $t: 'looks like a tag' });
    assert.deepEqual(byName.u8, new Uint8Array([1, 2, 255]));
    assert.deepEqual(byName.buf, new Uint8Array(Buffer.from('buf')), 'a Buffer comes back as a Uint8Array');
    assert.deepEqual(byName.date, new Date('2026-01-02T03:04:05.678Z'));
    assert.deepEqual(byName.map, new Map<unknown, unknown>([['k', 1], [2, 'v']]));
    assert.deepEqual(byName.set, new Set([1, 'a']));
    assert.equal(byName.undef, null, 'undefined comes back as null');
    assert.equal((byName.fn as (x: number) => number)(21), 42, 'a JS function survives the trip through Python');
    assert.ok(byName.err instanceof Error);
    assert.equal((byName.err as Error).name, 'RangeError');
    assert.deepEqual(byName.re, /ab+c/i);
  });

  test('Python values decode into the TypeScript values of the table', async () => {
    await h.ok('execute_request', {
      code: [
        'import datetime as dt',
        'p_int = 2 ** 53 - 1',
        'p_big = 2 ** 53',
        'p_neg_big = -(2 ** 70)',
        'p_float = 0.1',
        'p_tuple = (1, (2, 3))',
        'p_range = range(3)',
        'p_dict = {"a": None, "b": [True]}',
        'p_intkeys = {1: "one"}',
        'p_set = {3}',
        'p_bytes = b"\\x00\\x01"',
        'p_bytearray = bytearray(b"z")',
        'p_date = dt.datetime(2020, 1, 2, 3, 4, 5, 678000, tzinfo=dt.timezone.utc)',
        'p_err = KeyError("k")',
        'p_inf = float("inf")',
      ].join('\n'),
    });
    const [pInt, pBig, pNegBig, pFloat, pTuple, pRange, pDict, pIntkeys, pSet, pBytes, pBytearray, pDate, pErr, pInf] = await h.pull([
      'p_int', 'p_big', 'p_neg_big', 'p_float', 'p_tuple', 'p_range', 'p_dict', 'p_intkeys', 'p_set', 'p_bytes', 'p_bytearray', 'p_date', 'p_err', 'p_inf',
    ]);
    assert.equal(pInt, Number.MAX_SAFE_INTEGER);
    assert.equal(pBig, 2n ** 53n);
    assert.equal(pNegBig, -(2n ** 70n));
    assert.equal(pFloat, 0.1);
    assert.deepEqual(pTuple, [1, [2, 3]]);
    assert.deepEqual(pRange, [0, 1, 2]);
    assert.deepEqual(pDict, { a: null, b: [true] });
    assert.deepEqual(pIntkeys, new Map([[1, 'one']]));
    assert.deepEqual(pSet, new Set([3]));
    assert.deepEqual(pBytes, new Uint8Array([0, 1]));
    assert.deepEqual(pBytearray, new Uint8Array([122]));
    assert.deepEqual(pDate, new Date('2020-01-02T03:04:05.678Z'));
    assert.ok(pErr instanceof Error);
    assert.equal((pErr as Error).name, 'KeyError');
    assert.equal(pInf, Infinity);
  });

  test('typed arrays and NDArrays become numpy arrays and come back as NDArrays', { skip: !hasNumpy && 'numpy is not installed' }, async () => {
    const x = Float64Array.from({ length: 1000 }, (_, k) => k / 4);
    await h.push({ x, m: new NDArray(new Int32Array([1, 2, 3, 4, 5, 6]), [2, 3]), big64: new BigInt64Array([-(2n ** 62n), 5n]) });
    assert.equal(await h.py('(type(x).__name__, str(x.dtype), x.shape, float(x.sum()))'), `('ndarray', 'float64', (1000,), ${x.reduce((a, b) => a + b).toFixed(1)})`);
    assert.equal(await h.py('(str(m.dtype), m.shape, int(m[1, 2]), str(big64.dtype), int(big64[0]))'), `('int32', (2, 3), 6, 'int64', ${-(2n ** 62n)})`);
    const [gx, gm] = (await h.pull(['x', 'm'])) as NDArray[];
    assert.ok(gx instanceof NDArray);
    assert.equal(gx.dtype, 'float64');
    assert.deepEqual(gx.shape, [1000]);
    assert.deepEqual(gx.data, x);
    assert.ok(gm instanceof NDArray);
    assert.deepEqual(gm.toArray(), [[1, 2, 3], [4, 5, 6]]);
    await h.ok('execute_request', { code: 'import numpy\nnumpy.random.seed(1)\na = numpy.random.rand(2, 2)\nev = numpy.linalg.eigvals(a + a.T)' });
    const [a, ev] = (await h.pull(['a', 'ev'])) as NDArray[];
    assert.deepEqual(a.shape, [2, 2]);
    assert.equal(ev.dtype, 'float64');
    assert.equal(ev.data.length, 2);
  });

  test('apply runs Python source with TypeScript-encoded arguments', async () => {
    await h.push({ a: 5, b: 10 });
    const enc = { buffers: [] as Uint8Array[] };
    const args = [encodeValue(27, enc)];
    const reply = await h.ok('apply_request', { fn: 'lambda x: a+b+x', args });
    assert.equal(decodeValue((reply.content as { result: Json }).result, reply.buffers), 42);
  });

  test('pulling a module is a SerializationError naming it', async () => {
    await h.ok('execute_request', { code: 'import os' });
    const reply = await h.request('pull_request', { names: ['os'] });
    const c = reply.content as { status: string; ename: string; evalue: string };
    assert.equal(c.status, 'error');
    assert.equal(c.ename, 'SerializationError');
    assert.match(c.evalue, /\bos\b.*module/);
  });
});
