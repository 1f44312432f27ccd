import { test } from 'node:test';
import assert from 'node:assert/strict';
import { encodeFrame, FrameDecoder, FrameError } from '../../../core/transport/frame.ts';

function decodeAll(bytes: Buffer, chunk: number, max?: number): Buffer[][] {
  const frames: Buffer[][] = [];
  const d = new FrameDecoder((p) => frames.push(p), max);
  for (let i = 0; i < bytes.length; i += chunk) d.push(bytes.subarray(i, i + chunk));
  return frames;
}

test('frames survive any chunking, including empty and large parts', () => {
  const big = Buffer.alloc(200_000, 7);
  const parts = [Buffer.from('sig'), Buffer.from('{}'), Buffer.alloc(0), big, Buffer.from('tail')];
  const bytes = Buffer.concat([encodeFrame(parts), encodeFrame([Buffer.from('x')])]);
  for (const chunk of [1, 3, 7, 4096, 65536, bytes.length]) {
    const frames = decodeAll(bytes, chunk);
    assert.equal(frames.length, 2, `chunk ${chunk}`);
    assert.deepEqual(frames[0].map((p) => p.length), parts.map((p) => p.length));
    assert.ok(frames[0][3].equals(big));
    assert.equal(frames[1][0].toString(), 'x');
  }
});

test('a large part is its own aligned buffer', () => {
  const data = new Float64Array(20_000).map((_, i) => i * 0.5);
  const bytes = Buffer.concat([Buffer.alloc(3), encodeFrame([Buffer.from('a'), Buffer.from(data.buffer)])]).subarray(3);
  const [frame] = decodeAll(bytes, 1000);
  assert.equal(frame[1].byteOffset % 8, 0);
  assert.deepEqual(new Float64Array(frame[1].buffer, frame[1].byteOffset, data.length), data);
});

test('oversized and inconsistent frames are refused by name', () => {
  const ok = encodeFrame([Buffer.alloc(100)]);
  assert.throws(() => decodeAll(ok, 50, 64), /exceeds the maximum message size of 64 bytes/);
  const bad = Buffer.from(ok);
  bad.writeUInt32BE(5, 8); // part length no longer matches the body
  assert.throws(() => decodeAll(bad, 1000), FrameError);
  const zeroParts = Buffer.alloc(8);
  zeroParts.writeUInt32BE(4, 0);
  assert.throws(() => decodeAll(zeroParts, 8), /bad part count 0/);
});
