/**
 * The controller's log file (capped, rotated once) and the follower that reads it, or a batch
 * job's output file, as it grows: every line once, in order, across rotations and partial writes.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { RotatingLogFile } from '../../../core/controller/logFile.ts';
import { FileFollower } from '../../../core/util/fileFollower.ts';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'me-logfile-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

const turn = () => new Promise((r) => setImmediate(r));

test('the log file is 0600, capped: past its size it becomes .1 and a new one starts', async () => {
  const file = path.join(dir, 'a', 'log', 'controller.log');
  const log = new RotatingLogFile(file, 100);
  for (let i = 0; i < 5; i++) log.write(`line ${i} ${'x'.repeat(20)}\n`);
  await turn();
  assert.equal(fs.statSync(file).mode & 0o777, 0o600);
  // One write per turn: the five lines (140 bytes) went at once into the empty file.
  assert.equal(fs.readFileSync(file, 'utf8').split('\n').length, 6);
  log.write('after\n');
  await turn();
  assert.match(fs.readFileSync(`${file}.1`, 'utf8'), /^line 0 .*\nline 4 x+\n$/s);
  assert.equal(fs.readFileSync(file, 'utf8'), 'after\n');
  log.write('more\n');
  log.close();
  assert.equal(fs.readFileSync(file, 'utf8'), 'after\nmore\n', 'close writes what was gathered');
});

test('the follower hands on whole lines as they come, a partial line once finished, and reads a rotated file from its start', async () => {
  const file = path.join(dir, 'b.log');
  fs.writeFileSync(file, 'old 1\nold 2\nold 3\n');
  const got: string[] = [];
  // Started in the middle (the last 8 bytes): the piece of a line there is left out.
  const f = new FileFollower(file, (l) => got.push(l), { pollMs: 10_000, fromEnd: 8 }).start();
  assert.deepEqual(got, ['old 3']);
  fs.appendFileSync(file, 'new 1\nhalf');
  f.readNew();
  assert.deepEqual(got, ['old 3', 'new 1']);
  fs.appendFileSync(file, ' done\r\n');
  f.readNew();
  assert.deepEqual(got.slice(2), ['half done']);
  fs.renameSync(file, `${file}.1`);
  f.readNew(); // gone for a moment: nothing, no error
  fs.writeFileSync(file, 'rotated 1\n');
  f.readNew();
  fs.writeFileSync(file, 'x\n'); // truncated in place (same inode, smaller)
  f.readNew();
  fs.appendFileSync(file, 'tail without newline');
  f.stop();
  assert.deepEqual(got.slice(3), ['rotated 1', 'x', 'tail without newline']);
});

test('the follower polls by itself and waits for a file that does not exist yet', async () => {
  const file = path.join(dir, 'c.log');
  const got: string[] = [];
  const f = new FileFollower(file, (l) => got.push(l), { pollMs: 20 }).start();
  fs.writeFileSync(file, 'first\n');
  const end = Date.now() + 10_000;
  while (got.length === 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
  f.stop();
  assert.deepEqual(got, ['first']);
});

test('the follower reads a burst of several megabytes over several looks, every line once, in order', () => {
  const file = path.join(dir, 'd.log');
  const lines = Array.from({ length: 60_000 }, (_, i) => `line ${i} ${'y'.repeat(40)}`);
  fs.writeFileSync(file, lines.join('\n') + '\n'); // about 3 MB
  const got: string[] = [];
  const f = new FileFollower(file, (l) => got.push(l), { pollMs: 10_000 });
  let looks = 0;
  while (got.length < lines.length && looks < 100) {
    f.readNew();
    looks++;
  }
  f.stop();
  assert.ok(looks >= 3, `read in ${looks} looks`);
  assert.deepEqual(got, lines);
});
