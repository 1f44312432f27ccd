/**
 * Fuzzing the frame parsers: the shared TypeScript decoder (controller, clients, node engines)
 * and the Python engine's, in process with 100,000 frames each; then a real controller fed
 * bad frames over real sockets, which must count and drop them, close the connections that
 * sent them, not grow, and keep serving.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { createMessage } from '../../core/protocol/messages.ts';
import { BadMessage, decodeMessage, encodeMessage, Signer } from '../../core/transport/codec.ts';
import { encodeFrame, FrameDecoder, FrameError } from '../../core/transport/frame.ts';
import { engineInfo, startTestCluster, until } from '../integration/fixture.ts';
import { badFrame, FUZZ_KINDS, rng } from './fuzzFrames.ts';
import { rssKB } from '../../core/util/processes.ts';

const FRAMES = 100_000;

test(`the TypeScript frame parser survives ${FRAMES.toLocaleString()} bad frames`, () => {
  const signer = new Signer('fuzz-key');
  const r = rng(12345);
  const outcomes = { dropped: 0, closed: 0, accepted: 0, incomplete: 0 };
  for (let i = 0; i < FRAMES; i++) {
    const kind = FUZZ_KINDS[i % FUZZ_KINDS.length];
    const bytes = badFrame(kind, r, signer);
    let outcome: keyof typeof outcomes = 'incomplete';
    // A fresh decoder per frame is what a fresh connection gets; the first verdict counts.
    const decoder = new FrameDecoder((parts) => {
      if (outcome !== 'incomplete') return;
      try {
        decodeMessage(parts, signer);
        outcome = 'accepted';
      } catch (e) {
        assert.ok(e instanceof BadMessage, `${kind}: unexpected ${String(e)}`);
        outcome = 'dropped';
      }
    }, 64 * 1024 * 1024);
    try {
      decoder.push(bytes);
    } catch (e) {
      assert.ok(e instanceof FrameError, `${kind}: unexpected ${String(e)}`);
      if (outcome === 'incomplete') outcome = 'closed';
    }
    outcomes[outcome]++;
  }
  assert.equal(outcomes.dropped + outcomes.closed + outcomes.accepted + outcomes.incomplete, FRAMES);
  // A bit flip can land in a buffer (unsigned by design), so a few mutated frames stay valid;
  // every other frame is refused or waits for bytes that never come.
  assert.ok(outcomes.accepted < FRAMES / 20, `accepted ${outcomes.accepted}`);
  assert.ok(outcomes.dropped > FRAMES / 4 && outcomes.closed > FRAMES / 10, JSON.stringify(outcomes));
});

test(`the Python engine's frame parser survives ${FRAMES.toLocaleString()} bad frames`, () => {
  const signer = new Signer('fuzz-key');
  const r = rng(777);
  const frames: Buffer[] = [];
  for (let i = 0; i < FRAMES; i++) frames.push(badFrame(FUZZ_KINDS[i % FUZZ_KINDS.length], r, signer));
  const input = Buffer.concat(frames.flatMap((f) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(f.length);
    return [len, f];
  }));
  const script = path.resolve('test/reliability/fuzz_python_wire.py');
  const res = spawnSync('python3', [script], { input, env: { ...process.env, PYTHONPATH: path.resolve('engines/python') }, encoding: 'utf8', maxBuffer: 1 << 20, timeout: 300_000 });
  assert.equal(res.status, 0, res.stderr);
  const summary = JSON.parse(res.stdout) as Record<string, number>;
  assert.equal(summary.frames, FRAMES);
  assert.equal(summary.unexpected, 0, res.stdout);
  assert.ok(summary.dropped > FRAMES / 4 && summary.closed > FRAMES / 10, res.stdout);
});


async function sendAndWaitClose(port: number, bytes: Buffer): Promise<boolean> {
  const s = net.connect(port, '127.0.0.1');
  s.on('error', () => {});
  s.resume(); // read (and discard) any error reply, so the close is seen
  await new Promise((r) => s.once('connect', r));
  const closed = new Promise<boolean>((resolve) => {
    const t = setTimeout(() => resolve(false), 5000);
    s.once('close', () => {
      clearTimeout(t);
      resolve(true);
    });
  });
  s.write(bytes);
  // A truncated frame can only be judged when the sender stops: end our side.
  s.end();
  return closed;
}

test('a real controller counts and drops bad frames, hangs up on their senders, and keeps serving', async () => {
  const tc = await startTestCluster({ n: 2 });
  try {
    const info = JSON.parse(fs.readFileSync(tc.cluster.connectionFile, 'utf8')) as { port: number; key: string };
    const signer = new Signer(info.key);
    const r = rng(99);
    const pid = tc.cluster.controllerPid;
    const before = (await tc.rc.status()).dropped_messages;

    const round = async (connections: number) => {
      let closed = 0;
      for (let i = 0; i < connections; i += 50) {
        const batch = Array.from({ length: 50 }, (_, j) => sendAndWaitClose(info.port, badFrame(FUZZ_KINDS[(i + j) % FUZZ_KINDS.length], r, signer)));
        closed += (await Promise.all(batch)).filter(Boolean).length;
      }
      return closed;
    };
    await round(500); // warm-up, so the memory comparison sees steady state
    const rssBefore = rssKB(pid);
    const closed = await round(1500);
    assert.equal(closed, 1500, 'every connection that sent garbage was closed');
    const rssAfter = rssKB(pid);
    assert.ok(rssAfter - rssBefore < 20 * 1024, `controller RSS grew from ${rssBefore} kB to ${rssAfter} kB`);

    const dropped = (await tc.rc.status()).dropped_messages - before;
    assert.ok(dropped > 1000, `dropped ${dropped}`);
    assert.deepEqual(await tc.rc.view().applySync(() => 'alive'), ['alive', 'alive']);
  } finally {
    await tc.stop();
  }
});

test('a replayed request is dropped, never run twice', async () => {
  const tc = await startTestCluster({ n: 1 });
  try {
    const info = JSON.parse(fs.readFileSync(tc.cluster.connectionFile, 'utf8')) as { port: number; key: string };
    const signer = new Signer(info.key);
    const connect = encodeFrame(encodeMessage(createMessage('connect_request', {}, { session: 'replayer' }), signer));
    const run = encodeFrame(encodeMessage(createMessage('execute_request', { code: 'globalThis.hits = (globalThis.hits ?? 0) + 1' }, { session: 'replayer', metadata: { targets: [0] } }), signer));
    const before = (await tc.rc.status()).dropped_messages;
    const doneBefore = (await engineInfo(tc.rc, 0)).tasks_done ?? 0;
    for (let i = 0; i < 3; i++) {
      const s = net.connect(info.port, '127.0.0.1');
      await new Promise((res) => s.once('connect', res));
      // Each connection opens with a fresh connect_request, then replays the same execute_request.
      const fresh = encodeFrame(encodeMessage(createMessage('connect_request', {}, { session: 'replayer' }), signer));
      s.write(i === 0 ? connect : fresh);
      s.write(run);
      // The controller has dealt with this connection's execute_request: run (the first), or dropped as a replay.
      await until(
        async () => (i === 0 ? ((await engineInfo(tc.rc, 0)).tasks_done ?? 0) > doneBefore : (await tc.rc.status()).dropped_messages - before >= i),
        5000,
        `replay ${i} to be handled`,
      );
      s.destroy();
    }
    assert.equal(await tc.rc.view(0).pull('hits', { block: true }), 1);
    assert.equal((await tc.rc.status()).dropped_messages - before, 2);
  } finally {
    await tc.stop();
  }
});
