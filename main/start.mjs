#!/usr/bin/env node
// `npm start` and `npm run web`. npm start opens the desktop window when the Electron binary
// is installed; otherwise it says so in one line and starts web mode. `--web` forces web mode.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const entry = fileURLToPath(new URL('../dist/main/webMain.js', import.meta.url));
if (!existsSync(entry)) {
  console.error('multiengine: the app is not built: run `npm run build` first');
  process.exit(1);
}
const { main } = await import(entry);
process.exit(await main(process.argv.slice(2)));
