/**
 * Keeps the layer rules of docs/architecture.md (section 2) honest (who may import whom), and that no source
 * files import each other in a loop. Imports are read from the source text: static imports and
 * re-exports, `import 'x'`, dynamic import() and require() with a literal specifier.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { builtinModules } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const NODE_BUILTINS = new Set(builtinModules);

interface Import {
  spec: string;
  /** Repository-relative path of the file it names, for relative specifiers that resolve. */
  target: string | null;
  typeOnly: boolean;
}

function sources(dir: string, exts = ['.ts', '.mts', '.js', '.mjs', '.svelte']): string[] {
  const abs = path.join(ROOT, dir);
  if (!fs.existsSync(abs)) return [];
  return fs.readdirSync(abs, { withFileTypes: true }).flatMap((e) => {
    const rel = path.join(dir, e.name);
    if (e.isDirectory()) return e.name === 'node_modules' || e.name === '__pycache__' ? [] : sources(rel, exts);
    return exts.some((x) => e.name.endsWith(x)) && !e.name.endsWith('.d.ts') ? [rel] : [];
  });
}

const IMPORT_RE =
  /(?:^|[\n;])\s*(import|export)(\s+type)?\s[^'"`;]*?from\s*['"]([^'"]+)['"]|(?:^|[\n;])\s*import\s*['"]([^'"]+)['"]|\bimport\(\s*['"]([^'"]+)['"]\s*\)|\brequire\(\s*['"]([^'"]+)['"]\s*\)/g;

/** `./x.js` next to `from` → the source file it names (x.ts, x.svelte.ts, x/index.ts, ...). */
function resolve(from: string, spec: string): string | null {
  if (!spec.startsWith('.')) return null;
  const base = path.join(path.dirname(from), spec);
  const stem = base.replace(/\.(m?js)$/, '');
  const candidates = [base, `${stem}.ts`, `${stem}.mts`, `${stem}.js`, `${stem}.mjs`, path.join(base, 'index.ts')];
  return candidates.find((c) => fs.existsSync(path.join(ROOT, c)) && fs.statSync(path.join(ROOT, c)).isFile()) ?? null;
}

const cache = new Map<string, Import[]>();
function importsOf(file: string): Import[] {
  let found = cache.get(file);
  if (!found) {
    const text = fs.readFileSync(path.join(ROOT, file), 'utf8').replace(/\/\*[\s\S]*?\*\/|^\s*\/\/.*$/gm, '');
    found = [...text.matchAll(IMPORT_RE)].map((m) => {
      const spec = m[3] ?? m[4] ?? m[5] ?? m[6];
      return { spec, target: resolve(file, spec), typeOnly: Boolean(m[2]) };
    });
    cache.set(file, found);
  }
  return found;
}

const isNode = (spec: string) => spec.startsWith('node:') || NODE_BUILTINS.has(spec.split('/')[0]);
const isElectron = (spec: string) => spec === 'electron' || spec.startsWith('electron/');
const under = (file: string | null, ...dirs: string[]) => file !== null && dirs.some((d) => file === d || file.startsWith(`${d}/`));

/** Every import in `files` that `bad` rejects, as `file imports spec`. */
function offenders(files: string[], bad: (i: Import, file: string) => boolean): string[] {
  return files.flatMap((f) => importsOf(f).filter((i) => bad(i, f)).map((i) => `${f} imports ${i.spec}`));
}

test('the import reader sees every kind of import', () => {
  // The rules below are only as good as this reader: check it on the files it must understand.
  const cluster = importsOf('core/cluster/cluster.ts').map((i) => i.spec);
  assert.ok(cluster.includes('node:os') && cluster.includes('../client/client.js'), cluster.join(', '));
  assert.ok(importsOf('core/cli/main.ts').some((i) => i.spec === '../console/main.js' && i.target === 'core/console/main.ts'), 'dynamic import()');
  assert.ok(importsOf('core/index.ts').some((i) => i.target === 'core/cluster/cluster.ts'), 'export ... from');
  assert.ok(importsOf('main/electron/main.ts').some((i) => i.spec === 'electron'));
  assert.ok(importsOf('core/cluster/cluster.ts').some((i) => i.typeOnly && i.target === 'core/protocol/messages.ts'), 'import type');
});

test('core/protocol and core/events are free of node:*, electron and the DOM, and import only each other', () => {
  const files = [...sources('core/protocol'), ...sources('core/events')];
  assert.ok(files.length >= 2, 'expected the protocol and events sources');
  assert.deepEqual(
    offenders(files, (i) => isNode(i.spec) || isElectron(i.spec) || !i.spec.startsWith('.') || !under(i.target, 'core/protocol', 'core/events')),
    [],
  );
  const dom = files.filter((f) => /\b(?:window|document|navigator|localStorage|HTMLElement)\b\s*[.[]/.test(fs.readFileSync(path.join(ROOT, f), 'utf8')));
  assert.deepEqual(dom, [], 'DOM globals used');
});

test('core/ and engines/ never import electron, main/, preload/ or renderer/', () => {
  const files = [...sources('core'), ...sources('engines')];
  assert.ok(files.length > 20, 'expected the core and engine sources');
  assert.deepEqual(
    offenders(files, (i) => isElectron(i.spec) || under(i.target, 'main', 'preload', 'renderer')),
    [],
  );
});

test('the renderer imports no node:*, no electron, no core or main code, and of the preload only the contract', () => {
  const files = sources('renderer');
  assert.ok(files.some((f) => f.endsWith('.svelte')) && files.some((f) => f.endsWith('.ts')), 'expected renderer components and modules');
  assert.deepEqual(
    offenders(files, (i) => isNode(i.spec) || isElectron(i.spec) || under(i.target, 'core', 'main', 'engines') || (under(i.target, 'preload') && i.target !== 'preload/contract.ts')),
    [],
  );
});

test('the preload imports only electron and its own contract', () => {
  const files = sources('preload');
  assert.deepEqual(
    offenders(files, (i) => !isElectron(i.spec) && !under(i.target, 'preload')),
    [],
  );
  // The contract imports nothing but its parts (preload/<part>Contract.ts, kept apart so no file grows past its size), and they import nothing: the renderer reads them.
  const parts = importsOf('preload/contract.ts').map((i) => i.target);
  assert.ok(parts.every((t) => t !== null && /^preload\/[a-z][A-Za-z]*Contract\.ts$/.test(t)), `the contract imports only its parts, got ${parts.join(', ')}`);
  for (const part of new Set(parts)) assert.deepEqual(importsOf(part!), [], `${part} imports nothing: the renderer reads it`);
});

test('main/ never imports the renderer, and imports electron only under main/electron/ (web mode must run without it)', () => {
  const files = sources('main');
  assert.ok(files.length > 5, 'expected the main sources');
  assert.deepEqual(
    offenders(files, (i, f) => under(i.target, 'renderer') || (isElectron(i.spec) && !under(f, 'main/electron'))),
    [],
  );
});

/** Every import loop among `files`, each as the list of files around it (smallest rotation first). */
function cycles(files: string[]): string[][] {
  const inGraph = new Set(files);
  const edges = new Map(files.map((f) => [f, [...new Set(importsOf(f).map((i) => i.target).filter((t): t is string => t !== null && inGraph.has(t)))]]));
  const found = new Map<string, string[]>();
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (f: string) => {
    state.set(f, 'open');
    stack.push(f);
    for (const t of edges.get(f) ?? []) {
      if (state.get(t) === 'open') {
        const loop = stack.slice(stack.indexOf(t));
        const start = loop.indexOf([...loop].sort()[0]);
        const canonical = [...loop.slice(start), ...loop.slice(0, start)];
        found.set(canonical.join(' → '), canonical);
      } else if (!state.has(t)) visit(t);
    }
    stack.pop();
    state.set(f, 'done');
  };
  for (const f of files) if (!state.has(f)) visit(f);
  return [...found.values()];
}

test('the cycle finder finds a loop', () => {
  const dir = fs.mkdtempSync(path.join(ROOT, 'test', 'unit', '.cycle-'));
  const rel = path.relative(ROOT, dir);
  try {
    fs.writeFileSync(path.join(dir, 'a.ts'), "import { b } from './b.js';\nexport const a = () => b;\n");
    fs.writeFileSync(path.join(dir, 'b.ts'), "import type { c } from './c.js';\nexport const b = 1 as unknown as typeof c;\n");
    fs.writeFileSync(path.join(dir, 'c.ts'), "export { a as c } from './a.js';\n");
    assert.deepEqual(cycles(sources(rel)), [[`${rel}/a.ts`, `${rel}/b.ts`, `${rel}/c.ts`]]);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('no source files import each other in a loop (core/, main/, preload/, renderer/lib/)', () => {
  const files = [...sources('core'), ...sources('main'), ...sources('preload'), ...sources('renderer/lib')];
  const loops = cycles(files);
  assert.equal(loops.length, 0, `import loops (each file imports the next, the last the first):\n${loops.map((l) => `  ${l.join(' → ')} → ${l[0]}`).join('\n')}`);
});
