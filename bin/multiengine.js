#!/usr/bin/env node
// The `multiengine` command. The library is compiled to dist/ by `npm install` (prepare); in a
// clone that was never built (`npx multiengine` links the folder without building it), the
// first run builds it, and says so on stderr.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const main = fileURLToPath(new URL('../dist/core/cli/main.js', import.meta.url));
if (!existsSync(main)) {
  if (!existsSync(new URL('../tsconfig.build.json', import.meta.url))) {
    console.error(`multiengine is not built, and its sources are not here to build it: reinstall it (${root})`);
    process.exit(1);
  }
  process.stderr.write('building multiengine (first run)…\n');
  const npm = process.env.npm_execpath;
  // The build's own output goes to stderr too: stdout stays the command's.
  const stdio = ['ignore', 2, 2];
  const r = npm ? spawnSync(process.execPath, [npm, 'run', '--silent', 'build'], { cwd: root, stdio }) : spawnSync('npm', ['run', '--silent', 'build'], { cwd: root, stdio, shell: process.platform === 'win32' });
  if (r.status !== 0 || !existsSync(main)) {
    console.error(`multiengine: the build failed${r.error ? ` (${r.error.message})` : ''}: run \`npm run build\` in ${root} to see why`);
    process.exit(1);
  }
  process.stderr.write('built; running multiengine\n');
}
const { run } = await import(main);
process.exitCode = await run(process.argv.slice(2));
