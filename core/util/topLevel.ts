/**
 * Source rewrites that make a persistent namespace behave like a REPL.
 *
 * - Top-level `let`/`const`/`class` become `var` bindings: they live on the context's global
 *   object, so re-running `let x = 1` does not throw "already declared" and pull/keys see them.
 *   (`const` therefore becomes reassignable, as in a REPL that allows redeclaration.)
 * - Top-level `await` (Node REPL style): every top-level declaration is hoisted to a global
 *   `var`, the body is wrapped in an async arrow and the last expression is returned boxed,
 *   so a returned promise is shown rather than awaited.
 * - Static `import` declarations become `await import(...)`, which a script can run.
 *
 * acorn is loaded only when the code contains one of the keywords that need a rewrite.
 */
import { createRequire } from 'node:module';
import type * as Acorn from 'acorn';

export interface Rewritten {
  code: string;
  /** True when `code` evaluates to a promise of `{ value }` (the top-level-await wrapper). */
  isAsync: boolean;
  /** Names the code declares at top level (var, let, const, class, function, import). */
  declared: string[];
}

/** A loosely typed ESTree node: the rewrites only read positions and a few fields. */
interface Node {
  type: string;
  start: number;
  end: number;
  [key: string]: unknown;
}

const KEYWORDS = /\b(?:let|const|class|await|import)\b/;

/** Cheap pre-check: code without these keywords runs unchanged and acorn is never loaded. */
export function needsRewrite(code: string): boolean {
  return KEYWORDS.test(code);
}

let acorn: typeof Acorn | undefined;
function parser(): typeof Acorn {
  acorn ??= createRequire(import.meta.url)('acorn') as typeof Acorn;
  return acorn;
}

function parse(code: string, sourceType: 'script' | 'module'): Node {
  return parser().parse(code, {
    ecmaVersion: 'latest',
    sourceType,
    allowAwaitOutsideFunction: true,
    allowHashBang: true,
  }) as unknown as Node;
}

/** Rewrites `code` for the namespace; throws acorn's SyntaxError when it does not parse as JavaScript. */
export function rewriteTopLevel(code: string): Rewritten {
  let ast: Node;
  try {
    ast = parse(code, 'script');
  } catch (e) {
    const converted = /\bimport\b/.test(code) ? convertImports(code) : null;
    if (converted === null) throw e;
    code = converted;
    ast = parse(code, 'script');
  }
  return hasTopLevelAwait(ast) ? wrapAsync(code, ast) : lexicalToVar(code, ast);
}

interface Edit {
  start: number;
  end: number;
  text: string;
}

function applyEdits(code: string, edits: Edit[]): string {
  // Later edits first so earlier positions stay valid; ties keep their insertion order.
  const order = edits.map((e, i) => ({ e, i })).sort((a, b) => b.e.start - a.e.start || b.i - a.i);
  let out = code;
  for (const { e } of order) out = out.slice(0, e.start) + e.text + out.slice(e.end);
  return out;
}

const FUNCTION_TYPES = new Set(['FunctionDeclaration', 'FunctionExpression', 'ArrowFunctionExpression']);

function children(node: Node): Array<{ key: string; child: Node }> {
  const out: Array<{ key: string; child: Node }> = [];
  for (const key of Object.keys(node)) {
    if (key === 'type' || key === 'start' || key === 'end' || key === 'loc' || key === 'range') continue;
    const v = node[key];
    if (Array.isArray(v)) {
      for (const c of v) if (isNode(c)) out.push({ key, child: c });
    } else if (isNode(v)) {
      out.push({ key, child: v });
    }
  }
  return out;
}

function isNode(v: unknown): v is Node {
  return typeof v === 'object' && v !== null && typeof (v as Node).type === 'string';
}

function hasTopLevelAwait(node: Node): boolean {
  if (node.type === 'AwaitExpression') return true;
  if (node.type === 'ForOfStatement' && node.await === true) return true;
  if (node.type === 'VariableDeclaration' && node.kind === 'await using') return true;
  if (FUNCTION_TYPES.has(node.type)) return false;
  return children(node).some(({ child }) => hasTopLevelAwait(child));
}

/** Identifiers bound by a declaration pattern. */
function boundNames(p: Node, out: string[] = []): string[] {
  switch (p.type) {
    case 'Identifier':
      out.push(p.name as string);
      break;
    case 'ObjectPattern':
      for (const prop of p.properties as Node[]) boundNames(prop.type === 'RestElement' ? prop : (prop.value as Node), out);
      break;
    case 'ArrayPattern':
      for (const el of p.elements as Array<Node | null>) if (el) boundNames(el, out);
      break;
    case 'AssignmentPattern':
      boundNames(p.left as Node, out);
      break;
    case 'RestElement':
      boundNames(p.argument as Node, out);
      break;
  }
  return out;
}

function declarators(decl: Node): Node[] {
  return decl.declarations as Node[];
}

/** Script path: top-level let/const -> var, class -> var assignment. Nothing else changes. */
function lexicalToVar(code: string, ast: Node): Rewritten {
  const edits: Edit[] = [];
  const declared: string[] = [];
  for (const st of ast.body as Node[]) {
    if (st.type === 'VariableDeclaration') {
      for (const d of declarators(st)) boundNames(d.id as Node, declared);
      if (st.kind !== 'let' && st.kind !== 'const') continue;
      edits.push({ start: st.start, end: st.start + (st.kind as string).length, text: 'var' });
      // `let x;` must reset x on re-run, as a fresh binding would.
      for (const d of declarators(st)) if (!d.init) edits.push({ start: d.end, end: d.end, text: ' = undefined' });
    } else if (st.type === 'ClassDeclaration') {
      const name = (st.id as Node).name as string;
      declared.push(name);
      edits.push({ start: st.start, end: st.start, text: `var ${name} = ` }, { start: st.end, end: st.end, text: ';' });
    } else if (st.type === 'FunctionDeclaration') {
      declared.push((st.id as Node).name as string);
    }
  }
  return { code: applyEdits(code, edits), isAsync: false, declared };
}

/**
 * Top-level-await path. Declarations cannot stay inside the async wrapper (they would be
 * local to it), so their names are hoisted as global `var`s and they become assignments.
 */
function wrapAsync(code: string, ast: Node): Rewritten {
  const edits: Edit[] = [];
  const hoisted: string[] = [];
  const src = (n: Node): string => code.slice(n.start, n.end);

  /** `a = (1), {b} = (o)` for the declarators of a var/let/const; uninitialised ones reset only when asked. */
  const assignments = (decl: Node, reset: boolean): string[] => {
    const out: string[] = [];
    for (const d of declarators(decl)) {
      const names = boundNames(d.id as Node);
      hoisted.push(...names);
      if (d.init) out.push(`${src(d.id as Node)} = (${src(d.init as Node)})`);
      else if (reset) out.push(...names.map((n) => `${n} = undefined`));
    }
    return out;
  };
  const asStatement = (parts: string[]): string => (parts.length ? `void (${parts.join(', ')});` : ';');

  /** `var` anywhere outside functions is function-scoped, so nested ones are hoisted too. */
  const visitNested = (node: Node, parent: Node | null, key: string): void => {
    if (FUNCTION_TYPES.has(node.type) || node.type === 'ClassDeclaration' || node.type === 'ClassExpression') return;
    if (node.type === 'VariableDeclaration' && node.kind === 'var') {
      const isForHead = parent !== null && ((parent.type === 'ForStatement' && key === 'init') || ((parent.type === 'ForInStatement' || parent.type === 'ForOfStatement') && key === 'left'));
      if (!isForHead) {
        edits.push({ start: node.start, end: node.end, text: asStatement(assignments(node, false)) });
      } else if (parent.type === 'ForStatement') {
        edits.push({ start: node.start, end: node.end, text: assignments(node, false).join(', ') });
      } else {
        const d = declarators(node)[0];
        hoisted.push(...boundNames(d.id as Node));
        edits.push({ start: node.start, end: node.end, text: src(d.id as Node) });
      }
      return;
    }
    for (const c of children(node)) visitNested(c.child, node, c.key);
  };

  const body = ast.body as Node[];
  for (const st of body) {
    switch (st.type) {
      case 'VariableDeclaration':
        if (st.kind === 'var' || st.kind === 'let' || st.kind === 'const') {
          edits.push({ start: st.start, end: st.end, text: asStatement(assignments(st, st.kind !== 'var')) });
        }
        break;
      case 'FunctionDeclaration': {
        // Hoisted inside the wrapper; publish it as a global before anything runs.
        const name = (st.id as Node).name as string;
        hoisted.push(name);
        edits.push({ start: st.start, end: st.start, text: `this.${name} = ${name}; ` });
        break;
      }
      case 'ClassDeclaration': {
        const name = (st.id as Node).name as string;
        hoisted.push(name);
        edits.push({ start: st.start, end: st.start, text: `${name} = ` }, { start: st.end, end: st.end, text: ';' });
        break;
      }
      default:
        visitNested(st, null, '');
    }
  }
  const last = body[body.length - 1];
  if (last?.type === 'ExpressionStatement') {
    const text = src(last).replace(/;$/, '');
    edits.push({ start: last.start, end: last.end, text: `return { value: (${text}) };` });
  }
  const names = [...new Set(hoisted)];
  // Prefix on the first line so line numbers in stack traces match the user's code.
  const prefix = `${names.length ? `var ${names.join(', ')}; ` : ''}(async () => { `;
  return { code: `${prefix}${applyEdits(code, edits)}\n})()`, isAsync: true, declared: names };
}

/**
 * `import x, { a as b } from 'm'` -> `var { default: x, a: b } = await import('m');`.
 * Returns null when the code is not a module made only of imports and statements (e.g. has exports).
 */
function convertImports(code: string): string | null {
  let ast: Node;
  try {
    ast = parse(code, 'module');
  } catch {
    return null;
  }
  const edits: Edit[] = [];
  const raw = (n: Node): string => code.slice(n.start, n.end);
  for (const st of ast.body as Node[]) {
    if (st.type.startsWith('Export')) return null;
    if (st.type !== 'ImportDeclaration') continue;
    const attrs = (st.attributes as Node[] | undefined) ?? [];
    const opts = attrs.length ? `, { with: { ${attrs.map((a) => `${raw(a.key as Node)}: ${raw(a.value as Node)}`).join(', ')} } }` : '';
    const load = `await import(${raw(st.source as Node)}${opts})`;
    const specs = st.specifiers as Node[];
    const ns = specs.find((s) => s.type === 'ImportNamespaceSpecifier');
    const def = specs.find((s) => s.type === 'ImportDefaultSpecifier');
    let text: string;
    if (specs.length === 0) {
      text = `${load};`;
    } else if (ns) {
      const nsName = raw(ns.local as Node);
      text = `var ${nsName} = ${load}${def ? `, ${raw(def.local as Node)} = ${nsName}.default` : ''};`;
    } else {
      const props = specs.map((s) => (s.type === 'ImportDefaultSpecifier' ? `default: ${raw(s.local as Node)}` : `${raw(s.imported as Node)}: ${raw(s.local as Node)}`));
      text = `var { ${props.join(', ')} } = ${load};`;
    }
    edits.push({ start: st.start, end: st.end, text });
  }
  return edits.length ? applyEdits(code, edits) : null;
}
