#!/usr/bin/env node
// `npm run typecheck:app`: typechecks main/, preload/ and the app's tests (tsconfig.app.json),
// then the renderer with svelte-check. Electron's types come with the electron package, which
// a plain `npm install` drops where its binary cannot be downloaded (CI installs it with
// ELECTRON_SKIP_BINARY_DOWNLOAD=1); then main/electron/ is left out, and this says so.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(path.join(root, 'package.json'));
const bin = (pkg, file) => path.join(path.dirname(require.resolve(`${pkg}/package.json`)), file);

let project = path.join(root, 'tsconfig.app.json');
try {
  require.resolve('electron/electron.d.ts');
} catch {
  console.log('typecheck: electron is not installed (install with ELECTRON_SKIP_BINARY_DOWNLOAD=1 to get its types): main/electron/ and preload/preload.ts are not checked');
  const dir = path.join(root, 'node_modules', '.cache', 'multiengine');
  fs.mkdirSync(dir, { recursive: true });
  project = path.join(dir, 'tsconfig.app-without-electron.json');
  const base = JSON.parse(fs.readFileSync(path.join(root, 'tsconfig.app.json'), 'utf8'));
  fs.writeFileSync(project, JSON.stringify({ extends: path.join(root, 'tsconfig.app.json'), include: base.include.map((p) => path.join(root, p)), exclude: [...base.exclude.map((p) => path.join(root, p)), path.join(root, 'main', 'electron'), path.join(root, 'preload', 'preload.ts')] }));
}

const run = (args) => spawnSync(process.execPath, args, { stdio: 'inherit', cwd: root }).status ?? 1;
const tsc = run([bin('typescript', 'bin/tsc'), '-p', project]);
const svelte = run([bin('svelte-check', 'bin/svelte-check'), '--tsconfig', path.join(root, 'renderer', 'tsconfig.json'), '--fail-on-warnings', '--output', 'human']);
process.exit(tsc || svelte);
