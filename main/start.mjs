#!/usr/bin/env node
// `npm start` and `npm run web`: checks the app is built, then hands over to webMain, which opens
// the desktop window when the Electron binary is installed, or says why not, how to get it, and
// starts web mode (`--web` forces it).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const dist = (rel) => fileURLToPath(new URL(`../dist/main/${rel}`, import.meta.url));
if (!existsSync(dist('webMain.js'))) {
  console.error('multiengine: the app is not built: run `npm run build` first');
  process.exit(1);
}
// webMain decides between the window and web mode, and says which and why.
const { main } = await import(dist('webMain.js'));
process.exit(await main(process.argv.slice(2)));
