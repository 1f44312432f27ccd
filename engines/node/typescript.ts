/**
 * TypeScript support: code that is not valid JavaScript gets its types stripped by esbuild
 * and is tried again. esbuild is loaded on first use only, so plain-JS engines never pay for it.
 */
import { createRequire } from 'node:module';
import type * as Esbuild from 'esbuild';

let esbuild: typeof Esbuild | undefined;

/** JavaScript for TypeScript `code`; throws when esbuild cannot parse it either. */
export function stripTypes(code: string): string {
  esbuild ??= createRequire(import.meta.url)('esbuild') as typeof Esbuild;
  // No `format`: imports, top-level await and the statement list are kept as written.
  return esbuild.transformSync(code, { loader: 'ts', target: 'esnext', logLevel: 'silent' }).code;
}
