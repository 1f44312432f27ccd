/**
 * scripts/electron-fallback.d.ts, which main/typecheck.mjs maps `electron` to where npm dropped
 * the electron package: main/electron/ and the preload typecheck against it, and a misuse of
 * Electron's API is still caught.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

const ROOT = path.resolve(import.meta.dirname, '..', '..');

test('main/electron/ and the preload typecheck against the Electron fallback, which catches a wrong call', () => {
  // Inside node_modules, as typecheck.mjs does, so `types: ["node"]` resolves.
  const dir = fs.mkdtempSync(path.join(ROOT, 'node_modules', '.cache-typecheck-fallback-'));
  try {
    const bad = path.join(dir, 'misuse.ts');
    fs.writeFileSync(bad, "import { app, BrowserWindow } from 'electron';\napp.quitNow();\nnew BrowserWindow({ webPreferences: { sandbox: 'yes' } });\n");
    const project = path.join(dir, 'tsconfig.json');
    fs.writeFileSync(
      project,
      JSON.stringify({
        extends: path.join(ROOT, 'tsconfig.app.json'),
        compilerOptions: { paths: { electron: [path.join(ROOT, 'scripts', 'electron-fallback.d.ts')] } },
        files: [path.join(ROOT, 'main', 'electron', 'main.ts'), path.join(ROOT, 'preload', 'preload.ts'), bad],
        include: [],
      }),
    );
    const tsc = path.join(path.dirname(createRequire(path.join(ROOT, 'package.json')).resolve('typescript/package.json')), 'bin', 'tsc');
    const r = spawnSync(process.execPath, [tsc, '-p', project, '--pretty', 'false'], { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });
    const errors = r.stdout.split('\n').filter((l) => /error TS\d+/.test(l));
    assert.notEqual(r.status, 0);
    assert.deepEqual(
      errors.map((l) => `${path.basename(l.slice(0, l.indexOf('(')))} ${/error (TS\d+)/.exec(l)![1]}`),
      ['misuse.ts TS2339', 'misuse.ts TS2322'],
      r.stdout,
    );
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
