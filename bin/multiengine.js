#!/usr/bin/env node
// The `multiengine` command. The library is compiled to dist/ by `npm install` (prepare).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const main = fileURLToPath(new URL('../dist/core/cli/main.js', import.meta.url));
if (!existsSync(main)) {
  console.error('multiengine is not built: run `npm run build` (or `npm install`) in ' + fileURLToPath(new URL('..', import.meta.url)));
  process.exit(1);
}
const { run } = await import(main);
process.exitCode = await run(process.argv.slice(2));
