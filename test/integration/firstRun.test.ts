/**
 * A clone that was never built (what `npx multiengine` links): the first run of the CLI builds
 * dist/ and says so on stderr, instead of a silent 20 s wait; the next run does not build.
 * `prepare` leaves that build to the CLI when npm runs it for `npx` (npm_command=exec).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const ROOT = path.resolve(import.meta.dirname, '..', '..');

/** The tracked files of this repository (as a fresh clone has them) and node_modules, in a temporary folder. */
function freshClone(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'multiengine-clone-'));
  const files = execFileSync('git', ['ls-files', '-z'], { cwd: ROOT, encoding: 'utf8' }).split('\0').filter(Boolean);
  for (const f of files) {
    if (!fs.existsSync(path.join(ROOT, f))) continue;
    fs.mkdirSync(path.dirname(path.join(dir, f)), { recursive: true });
    fs.copyFileSync(path.join(ROOT, f), path.join(dir, f));
  }
  fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(dir, 'node_modules'));
  return dir;
}

test('the first run of an unbuilt clone builds it and says so on stderr; prepare under npx leaves the build to it', () => {
  const dir = freshClone();
  try {
    assert.equal(fs.existsSync(path.join(dir, 'dist')), false);
    const env = { ...process.env, npm_command: 'exec' };
    const prepare = spawnSync(process.execPath, ['scripts/prepare.mjs'], { cwd: dir, env, encoding: 'utf8' });
    assert.equal(prepare.status, 0, prepare.stderr);
    assert.equal(fs.existsSync(path.join(dir, 'dist')), false, 'prepare under npx did not build');

    const first = spawnSync(process.execPath, ['bin/multiengine.js', 'help', 'status'], { cwd: dir, encoding: 'utf8', timeout: 180_000 });
    assert.equal(first.status, 0, first.stderr);
    assert.match(first.stderr, /^building multiengine \(first run\)…\n/);
    assert.match(first.stdout, /^usage: multiengine status/, 'stdout holds only the command output');
    assert.ok(fs.existsSync(path.join(dir, 'dist', 'core', 'cli', 'main.js')));

    const second = spawnSync(process.execPath, ['bin/multiengine.js', 'help', 'status'], { cwd: dir, encoding: 'utf8', timeout: 60_000 });
    assert.equal(second.status, 0, second.stderr);
    assert.equal(second.stderr, '');
    assert.equal(second.stdout, first.stdout);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
