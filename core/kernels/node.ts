/** The node engine (engines/node): JavaScript and TypeScript, the default language. */
import fs from 'node:fs';
import path from 'node:path';
import { nodeEntry, packageRoot } from '../util/entry.js';
import type { EngineLanguage } from './language.js';
import { LaunchError, type LocalLaunch } from './launch.js';
import { NODE_DESCRIBE } from './nodeDescribe.js';

// Node engines evaluate function values, so the user's function is passed to this helper as its first argument.
const NODE_MAP = `(f, ...seqs) => {
  const n = seqs.length === 0 ? 0 : Math.min(...seqs.map((s) => s.length));
  const out = new Array(n);
  let thenable = false;
  for (let i = 0; i < n; i++) {
    const r = f(...seqs.map((s) => s[i]));
    if (r !== null && typeof r === 'object' && typeof r.then === 'function') thenable = true;
    out[i] = r;
  }
  return thenable ? Promise.all(out) : out;
}`;

/**
 * Node engines hold large arrays (pushed, scattered, computed), so their large allocations ask
 * for transparent huge pages, as numpy does for its own arrays: glibc's malloc then advises
 * MADV_HUGEPAGE on the memory it maps. Receiving 16 MiB into fresh memory then costs 8 page
 * faults instead of 4,096 (a fault costs ~2.3 µs on the VMs this was measured on). V8 maps its
 * own heap, so an idle engine grows by ≤ 1.5 MB; a Python engine's whole heap would round up in
 * 2 MiB steps, so it advises only its large receive buffers. Linux only; an existing
 * GLIBC_TUNABLES setting of it is kept; MULTIENGINE_HUGEPAGES=0 turns it off.
 */
function withHugePages(env: NodeJS.ProcessEnv): void {
  if (process.platform !== 'linux' || env.MULTIENGINE_HUGEPAGES === '0') return;
  const tunables = env.GLIBC_TUNABLES ?? '';
  if (/glibc\.malloc\.hugetlb=/.test(tunables)) return;
  env.GLIBC_TUNABLES = tunables ? `${tunables}:glibc.malloc.hugetlb=1` : 'glibc.malloc.hugetlb=1';
}

/**
 * Source mode runs engines with `--import tsx`, which node resolves from the current
 * directory. Engines keep the controller's cwd (user code may rely on it), so resolve the
 * loader from this package instead.
 */
function absoluteLoader(arg: string, i: number, args: string[]): string {
  if (arg !== 'tsx' || args[i - 1] !== '--import') return arg;
  try {
    return import.meta.resolve('tsx');
  } catch {
    return arg;
  }
}

const local: LocalLaunch = {
  command(_interpreter, engineArgs) {
    const { command, args } = nodeEntry('engines/node/main');
    const script = args[args.length - 1];
    if (!fs.existsSync(script)) throw new LaunchError(`the node engine is not installed: no ${script}`);
    return { command, args: [...args.map(absoluteLoader), ...engineArgs] };
  },
  prepareEnv: withHugePages, // the Python engine advises its large buffers itself (wire.py)
  notFound: (command, code) => `cannot start ${JSON.stringify(command)} (${code})`,
};

export const nodeLanguage: EngineLanguage = {
  name: 'node',
  mapFunction: () => NODE_MAP,
  mapPassesFunction: true,
  readerSource: (names, single) => `() => (${single ? names[0] : `[${names.join(', ')}]`})`,
  writerSource: (paths, v) => `(...${v}) => { ${paths.map((p, i) => `${p} = ${v}[${i}];`).join(' ')} }`,
  describeNames: NODE_DESCRIBE,
  local,
  remoteCommand: (program, root, engineArgs) => [program ?? 'node', path.join(root ?? packageRoot, 'dist', 'engines', 'node', 'main.js'), ...engineArgs],
};
