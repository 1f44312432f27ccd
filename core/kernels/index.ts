/**
 * The engine languages Multiengine ships, by name. Everything language-specific is found
 * through here; see ./language.ts for what a descriptor holds.
 */
import type { EngineLanguage } from './language.js';
import { nodeLanguage } from './node.js';
import { pythonLanguage } from './python.js';

export type { EngineLanguage } from './language.js';

const LANGUAGES: ReadonlyMap<string, EngineLanguage> = new Map([nodeLanguage, pythonLanguage].map((l) => [l.name, l]));

/** The default language of new engines. */
export const DEFAULT_LANGUAGE = nodeLanguage.name;

/** Names of the languages Multiengine can start engines in. */
export const languageNames: readonly string[] = [...LANGUAGES.keys()];

export function isLanguageName(name: unknown): name is string {
  return typeof name === 'string' && LANGUAGES.has(name);
}

/** The descriptor of `name`; throws naming the choices when there is none. `what` is how the user named the setting (e.g. "--engine"). */
export function engineLanguage(name: string, what = 'engine'): EngineLanguage {
  const l = LANGUAGES.get(name);
  if (l === undefined) throw new RangeError(`${what} must be one of ${languageNames.join(', ')}; got ${JSON.stringify(name)}`);
  return l;
}

/** The descriptor for an engine that registered as `name`, or the default's for a language this process does not know. */
export function languageOrDefault(name: string | undefined): EngineLanguage {
  return (name !== undefined && LANGUAGES.get(name)) || nodeLanguage;
}
