#!/usr/bin/env node
// `npm run typecheck:app`: typechecks main/, preload/ and the app's tests (tsconfig.app.json),
// then the renderer with svelte-check. Electron's types come with the electron package, which
// a plain `npm install` drops where its binary cannot be downloaded; then main/electron/ and
// the preload are checked against scripts/electron-fallback.d.ts, the part of Electron's API
// they use, and this says so. `--electron-fallback` uses that file even with electron installed.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(path.join(root, 'package.json'));
const bin = (pkg, file) => path.join(path.dirname(require.resolve(`${pkg}/package.json`)), file);

let haveElectronTypes = true;
try {
  require.resolve('electron/electron.d.ts');
} catch {
  haveElectronTypes = false;
}

let project = path.join(root, 'tsconfig.app.json');
if (!haveElectronTypes || process.argv.includes('--electron-fallback')) {
  const fallback = path.join(root, 'scripts', 'electron-fallback.d.ts');
  console.log(`typecheck: ${haveElectronTypes ? '--electron-fallback' : 'electron is not installed'}: main/electron/ and preload/ are checked against ${path.relative(root, fallback)} (the part of Electron's API they use), not Electron's own types`);
  const dir = path.join(root, 'node_modules', '.cache', 'multiengine');
  fs.mkdirSync(dir, { recursive: true });
  project = path.join(dir, 'tsconfig.app-electron-fallback.json');
  const base = JSON.parse(fs.readFileSync(path.join(root, 'tsconfig.app.json'), 'utf8'));
  fs.writeFileSync(
    project,
    JSON.stringify({
      extends: path.join(root, 'tsconfig.app.json'),
      compilerOptions: { paths: { electron: [fallback] } },
      include: base.include.map((p) => path.join(root, p)),
      exclude: base.exclude.map((p) => path.join(root, p)),
    }),
  );
}

const run = (args) => spawnSync(process.execPath, args, { stdio: 'inherit', cwd: root }).status ?? 1;
const tsc = run([bin('typescript', 'bin/tsc'), '-p', project]);
const svelte = run([bin('svelte-check', 'bin/svelte-check'), '--tsconfig', path.join(root, 'renderer', 'tsconfig.json'), '--fail-on-warnings', '--output', 'human']);
process.exit(tsc || svelte);
