/**
 * Issue 16: -0 survives every leg with real engines: client -> engine -> client for each
 * kind, and python -> node -> python (values pulled from one engine pushed into the other).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Json, Message } from '../../../core/protocol/messages.js';
import { decodeValue, encodeValue } from '../../../core/serialize/serialize.js';
import { FakeController, noPython } from './fakeController.js';

async function push(fc: FakeController, ns: Record<string, unknown>): Promise<void> {
  const enc = { buffers: [] as Uint8Array[] };
  const tree: Record<string, Json> = {};
  for (const [k, v] of Object.entries(ns)) tree[k] = encodeValue(v, enc, k);
  const reply = await fc.request('push_request', { ns: tree }, enc.buffers);
  assert.equal((reply.content as { status: string }).status, 'ok', JSON.stringify(reply.content));
}

async function pull(fc: FakeController, names: string[]): Promise<unknown[]> {
  const reply: Message = await fc.request('pull_request', { names });
  assert.equal((reply.content as { status: string }).status, 'ok', JSON.stringify(reply.content));
  return (reply.content as { values: Json[] }).values.map((v) => decodeValue(v, reply.buffers));
}

async function result(fc: FakeController, code: string): Promise<string | undefined> {
  const reply = await fc.request('execute_request', { code });
  assert.equal((reply.content as { status: string }).status, 'ok', JSON.stringify(reply.content));
  return (reply.content as { result?: string }).result;
}

describe('-0 with real engines', { skip: noPython }, () => {
  const node = new FakeController(100, 0, 'node');
  const python = new FakeController(100, 1, 'python');
  before(async () => {
    await node.listen();
    await python.listen();
    await Promise.all([node.startEngine(), python.startEngine()]);
  });
  after(async () => {
    await node.close();
    await python.close();
  });

  it('client -> node -> client, and node sees -0 itself', async () => {
    await push(node, { z: -0, zs: [-0, 0], o: { z: -0 } });
    assert.equal(await result(node, 'Object.is(z, -0) && Object.is(zs[0], -0) && Object.is(zs[1], 0) && Object.is(o.z, -0)'), 'true');
    await result(node, 'var made = -0');
    const [z, zs, o, made] = await pull(node, ['z', 'zs', 'o', 'made']);
    assert.ok(Object.is(z, -0) && Object.is((zs as number[])[0], -0) && Object.is((zs as number[])[1], 0));
    assert.ok(Object.is((o as { z: number }).z, -0) && Object.is(made, -0));
  });

  it('client -> python -> client, and python sees -0.0 itself', async () => {
    await push(python, { z: -0, zs: [-0, 0] });
    assert.equal(await result(python, "(repr(z), repr(zs))"), `('-0.0', '[-0.0, 0]')`);
    await result(python, 'made = -0.0');
    const [z, zs, made] = await pull(python, ['z', 'zs', 'made']);
    assert.ok(Object.is(z, -0) && Object.is((zs as number[])[0], -0) && Object.is((zs as number[])[1], 0) && Object.is(made, -0));
  });

  it('python -> node -> python', async () => {
    await result(python, 'pz = -0.0');
    const [pz] = await pull(python, ['pz']);
    await push(node, { pz });
    assert.equal(await result(node, 'Object.is(pz, -0)'), 'true');
    const [back] = await pull(node, ['pz']);
    await push(python, { back });
    assert.equal(await result(python, 'import math; math.copysign(1.0, back)'), '-1.0');
  });
});
