/** The Python engine (engines/python): standard library, numpy when present. */
import fs from 'node:fs';
import path from 'node:path';
import { packageRoot } from '../util/entry.js';
import type { EngineLanguage } from './language.js';
import { findExecutable, LaunchError, type LocalLaunch } from './launch.js';
import { PYTHON_DESCRIBE } from './pythonDescribe.js';

// Python engines cannot run function values: the helper is applied to the user's source.
const PY_MAP = '(lambda f: lambda *seqs: [f(*a) for a in zip(*seqs)])';

/** A statement that starts a Python definition, and the name it binds. */
const PY_DEF = /^(?:async\s+def|def|class)\s+([A-Za-z_]\w*)/;
/** A line that starts a Python statement (not an expression): a definition, a decorator, an import, an assignment. */
const PY_STATEMENT = /^(?:(?:async\s+def|def|class|import|from)\s|@|[A-Za-z_][\w.]*\s*=(?!=))/;

/**
 * Python source that is a block rather than one expression: several top-level lines, or a def.
 * `name` when its last top-level statement is a def (or class); else `head` (the statements)
 * and `tail` (the last one, an expression). Top-level lines are found by their first column,
 * as the engine's parser would; null for a single expression such as a lambda.
 */
export function pythonBlock(src: string): { src: string; name?: string; head: string; tail: string } | null {
  const lines = src.replace(/\s+$/, '').split('\n');
  const top = lines.flatMap((l, i) => (/^[^\s#]/.test(l) ? [i] : []));
  if (top.length === 0) return null;
  // Column-0 lines that only continue an expression (a closing bracket) do not make a block: a statement must be there.
  if (!top.some((i) => PY_STATEMENT.test(lines[i]))) return null;
  const last = top[top.length - 1];
  const def = PY_DEF.exec(lines[last]);
  if (def === null && top.length === 1) return null;
  return { src: lines.join('\n'), name: def?.[1], head: lines.slice(0, last).join('\n'), tail: lines.slice(last).join('\n') };
}

// A packaged app sets MULTIENGINE_PYTHON_ENGINE: Python cannot read the copy inside app.asar.
export const PYTHON_ENGINE_SCRIPT = process.env.MULTIENGINE_PYTHON_ENGINE ?? path.join(packageRoot, 'engines', 'python', 'multiengine_engine.py');

const HOW_TO_NAME = "name one with the request's python option, the controller's --python flag or MULTIENGINE_PYTHON";

const local: LocalLaunch = {
  // request > --python > $MULTIENGINE_PYTHON > python3
  interpreter: (requested, flag) => requested || flag || process.env.MULTIENGINE_PYTHON || 'python3',
  command(interpreter = 'python3', engineArgs) {
    if (findExecutable(interpreter) === null) throw new LaunchError(`python interpreter ${JSON.stringify(interpreter)} not found; ${HOW_TO_NAME}`);
    if (!fs.existsSync(PYTHON_ENGINE_SCRIPT)) throw new LaunchError(`the python engine is not installed: no ${PYTHON_ENGINE_SCRIPT}`);
    return { command: interpreter, args: [PYTHON_ENGINE_SCRIPT, ...engineArgs] };
  },
  prepareEnv(env) {
    env.PYTHONUNBUFFERED = '1';
  },
  notFound: (command, code) => `python interpreter ${JSON.stringify(command)} ${code === 'ENOENT' ? 'not found' : 'cannot be run'} (${code}); ${HOW_TO_NAME}`,
};

export const pythonLanguage: EngineLanguage = {
  name: 'python',
  mapFunction(src) {
    const block = pythonBlock(src);
    // A block (a def, or statements then an expression) stays a block and ends with the helper applied
    // to its function: the engine runs it as apply runs a block (the last expression is the function).
    if (block === null) return `${PY_MAP}(${src.trim()})`;
    return block.name !== undefined ? `${block.src}\n${PY_MAP}(${block.name})` : `${block.head}\n${PY_MAP}(${block.tail})`;
  },
  mapPassesFunction: false,
  readerSource: (names, single) => `lambda: ${single ? names[0] : `[${names.join(', ')}]`}`,
  writerSource(paths, v) {
    const sets = paths.map((p, i) => {
      const dot = p.lastIndexOf('.');
      return `setattr(${p.slice(0, dot)}, '${p.slice(dot + 1)}', ${v}[${i}])`;
    });
    return `lambda *${v}: [${sets.join(', ')}] and None`;
  },
  describeNames: PYTHON_DESCRIBE,
  local,
  remoteCommand: (program, root, engineArgs) => [
    program ?? 'python3',
    root === undefined ? PYTHON_ENGINE_SCRIPT : path.join(root, 'engines', 'python', 'multiengine_engine.py'),
    ...engineArgs,
  ],
};
