// Keeps the layer rules of docs/architecture.md honest: core/ and engines/ never reach Electron.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';

function sources(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return e.name === '__pycache__' ? [] : sources(p);
    return /\.(ts|js|mjs|py)$/.test(e.name) ? [p] : [];
  });
}

test('core/ and engines/ never import electron', () => {
  const files = [...sources('core'), ...sources('engines')];
  assert.ok(files.length > 5, 'expected to find the core and engine sources');
  const offenders = files.filter((f) => /from\s+['"]electron['"]|require\(\s*['"]electron['"]\s*\)|import\(\s*['"]electron['"]\s*\)/.test(fs.readFileSync(f, 'utf8')));
  assert.deepEqual(offenders, []);
});

test('core/protocol has no runtime-specific imports', () => {
  const offenders = sources('core/protocol').filter((f) => /from\s+['"](node:|electron)/.test(fs.readFileSync(f, 'utf8')));
  assert.deepEqual(offenders, []);
});
