#!/usr/bin/env node
// `npm start` and `npm run web`. npm start opens the desktop window when the Electron binary
// is installed; otherwise it says why, how to get the window, and starts web mode. `--web`
// forces web mode. In web mode it says where to look and how to stop.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const dist = (rel) => fileURLToPath(new URL(`../dist/main/${rel}`, import.meta.url));
if (!existsSync(dist('webMain.js'))) {
  console.error('multiengine: the app is not built: run `npm run build` first');
  process.exit(1);
}
let argv = process.argv.slice(2);
if (!['-h', '--help'].some((a) => argv.includes(a))) {
  const messages = await import(dist('startMessages.js'));
  if (!argv.includes('--web')) {
    const { findElectron } = await import(dist('electronBinary.js'));
    const electron = findElectron();
    if (!electron.ok) {
      console.log(messages.noWindowMessage(electron));
      argv = [...argv, '--web'];
    }
  }
  if (argv.includes('--web')) console.log(messages.WEB_MODE_HINT);
}
const { main } = await import(dist('webMain.js'));
process.exit(await main(argv));
