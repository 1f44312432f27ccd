/**
 * vm's USE_MAIN_CONTEXT_DEFAULT_LOADER (dynamic import() inside vm code) emits a one-off
 * ExperimentalWarning on stderr, which would land in the first user's output. Drop just that one.
 */
let installed = false;

export function quietLoaderWarning(): void {
  if (installed) return;
  installed = true;
  const emitWarning = process.emitWarning.bind(process);
  process.emitWarning = ((warning: string | Error, ...rest: unknown[]) => {
    const text = typeof warning === 'string' ? warning : warning.message;
    if (text.includes('USE_MAIN_CONTEXT_DEFAULT_LOADER')) return;
    (emitWarning as (w: string | Error, ...r: unknown[]) => void)(warning, ...rest);
  }) as typeof process.emitWarning;
}
