/**
 * Dotted attribute paths (`a.b.c`) in pull and set, as ipyparallel's view['a.b']. Engines look
 * plain names up in their namespace; a path is read, or an attribute set, by a small function
 * applied on the engine in its own language, so no engine needs to know about paths. Each
 * segment is an identifier (checked first), so the source made here cannot carry other code.
 */
import type { KernelKind } from '../protocol/messages.js';
import { languageOrDefault } from '../kernels/index.js';
import { isIdentifier, show } from './validate.js';

export function isAttributePath(name: unknown): name is string {
  if (typeof name !== 'string' || !name.includes('.')) return false;
  return name.split('.').every(isIdentifier);
}

/** A name or a dotted attribute path; throws naming the method and the value otherwise. */
export function checkNameOrPath(method: string, name: unknown): string {
  if (isIdentifier(name) || isAttributePath(name)) return name;
  throw new TypeError(`${method}: ${show(name)} is not a valid name (names are identifiers, like a, x1 or my_value, or attribute paths like a.b)`);
}

/** A function of no arguments, in the engine's language, that gives the value of `names[0]` (`single`) or the list of their values. */
export function readerSource(kernel: KernelKind | undefined, names: readonly string[], single: boolean): string {
  return languageOrDefault(kernel).readerSource(names, single);
}

/** A function of one argument per path that sets each path's attribute to its value (the objects must exist). */
export function writerSource(kernel: KernelKind | undefined, paths: readonly string[]): string {
  // A parameter name no path starts with, so it cannot hide an object the paths name.
  let v = 'v';
  while (paths.some((p) => p.split('.')[0] === v)) v += '_';
  return languageOrDefault(kernel).writerSource(paths, v);
}
