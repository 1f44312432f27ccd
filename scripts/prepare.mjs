#!/usr/bin/env node
// `prepare`: builds dist/ when npm installs this folder (`npm install` in a clone). When
// `npx multiengine` links the folder instead (npm_command=exec), npm hides a lifecycle script's
// output, so a 20 s build would pass for a hang: then bin/multiengine.js builds on first run
// and says so. After a build it notes when there is no Electron binary (npm start then uses web mode).
import { spawnSync } from 'node:child_process';

if (process.env.npm_command === 'exec') process.exit(0);
const npm = process.env.npm_execpath;
const r = npm ? spawnSync(process.execPath, [npm, 'run', 'build'], { stdio: 'inherit' }) : spawnSync('npm', ['run', 'build'], { stdio: 'inherit', shell: process.platform === 'win32' });
if (r.status === 0) {
  // npm drops the optional electron package quietly when its binary cannot be downloaded.
  const { findElectron } = await import('../dist/main/electronBinary.js');
  const electron = findElectron();
  if (!electron.ok) console.log(`note: no desktop window: ${electron.reason}.\nnpm start runs the app in your browser instead (web mode), and says how to get the window (see also docs/app.md).`);
}
process.exit(r.status ?? 1);
