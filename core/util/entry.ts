/**
 * Where this package's process entry points live. Compiled code runs `dist/.../main.js`
 * with plain node; source runs under tsx (tests of the source tree), found the same way.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = fileURLToPath(import.meta.url);
const fromSource = here.endsWith('.ts');

/** The repository (package) root: the folder holding package.json. */
export const packageRoot = (() => {
  let dir = path.dirname(here);
  while (!fs.existsSync(path.join(dir, 'package.json'))) {
    const up = path.dirname(dir);
    if (up === dir) throw new Error(`cannot find package.json above ${here}`);
    dir = up;
  }
  return dir;
})();

/** Command and arguments that run the node entry `rel` (e.g. 'engines/node/main'). */
export function nodeEntry(rel: string): { command: string; args: string[] } {
  if (fromSource) {
    return { command: process.execPath, args: ['--import', 'tsx', path.join(packageRoot, `${rel}.ts`)] };
  }
  return { command: process.execPath, args: [path.join(packageRoot, 'dist', `${rel}.js`)] };
}
