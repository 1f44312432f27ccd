/**
 * Errors the engine reports by name, and the conversion of anything user code throws
 * (from any vm realm, Error or not) into the wire's {ename, evalue, traceback}.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { inspect, types } from 'node:util';
import { errorContent, type ErrorContent } from '../../core/protocol/messages.js';
import { WireError } from '../../core/protocol/validate.js';
import { SerializationError } from '../../core/serialize/serialize.js';

export class InterruptError extends Error {
  constructor() {
    super('interrupted');
    this.name = 'InterruptError';
  }
}

export class NameError extends Error {
  constructor(name: string) {
    super(`name '${name}' is not defined`);
    this.name = 'NameError';
  }
}

/** A value that arrived cannot be decoded: the same wire ename as a value that cannot be encoded. */
export class DecodeError extends Error {
  constructor(what: string, why: string) {
    super(`cannot deserialize ${what}: ${why}`);
    this.name = 'SerializationError';
  }
}

export class UnmetDependencyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UnmetDependencyError';
  }
}

// Frames from the engine itself, the shared core and node internals say nothing about user code.
const packageDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const INTERNAL_DIRS = [path.join(packageDir, 'engines', 'node'), path.join(packageDir, 'core')];
const INTERNAL_FRAME = /^\s+at (?:.*[\s(])?(?:node:|multiengine:)/;

function isInternalFrame(line: string): boolean {
  if (!/^\s+at /.test(line)) return false;
  if (INTERNAL_FRAME.test(line)) return true;
  return INTERNAL_DIRS.some((d) => line.includes(d) || line.includes(`file://${d}`));
}

function isErrorLike(e: unknown): e is { name?: unknown; message?: unknown; stack?: unknown } {
  return types.isNativeError(e) || (typeof e === 'object' && e !== null && e instanceof Error);
}

function safe(f: () => unknown, fallback: string): string {
  try {
    const v = f();
    return v === undefined || v === null ? fallback : String(v);
  } catch {
    return fallback;
  }
}

/** Error content for anything thrown; `throw 5` gives ename 'Error', evalue '5'. */
export function describeError(e: unknown): ErrorContent {
  if (e instanceof InterruptError) return errorContent('InterruptError', 'interrupted', []);
  // A malformed request: its message names the field, and it carries the ename the protocol gives it.
  if (e instanceof WireError) return errorContent(e.ename, e.message, []);
  if (!isErrorLike(e)) {
    const evalue = typeof e === 'object' && e !== null ? inspect(e) : safe(() => String(e), inspect(e));
    return errorContent('Error', evalue, []);
  }
  const ename = safe(() => e.name, 'Error');
  const evalue = safe(() => e.message, '');
  // Raised by the engine about a request, not from user code: where it was raised says nothing.
  if (e instanceof NameError || e instanceof UnmetDependencyError || e instanceof SerializationError) {
    return errorContent(ename, evalue, [`${ename}: ${evalue}`]);
  }
  const stack = safe(() => e.stack, '');
  const traceback = stack
    .split('\n')
    .filter((l) => !isInternalFrame(l))
    .map((l) => l.trimEnd());
  while (traceback.length && traceback[traceback.length - 1] === '') traceback.pop();
  return errorContent(ename, evalue, traceback);
}
