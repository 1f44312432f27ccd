/**
 * The last resort of the cluster fixtures: synchronous clean-ups run when the test process
 * exits or is interrupted (SIGINT, SIGTERM) before a fixture's stop() ran, so a crashed or
 * cancelled test leaves no daemons, namespaces or folders behind.
 */

const cleanups = new Set<() => void>();
let installed = false;

function runAll(): void {
  for (const fn of [...cleanups]) {
    cleanups.delete(fn);
    try {
      fn();
    } catch {
      // keep cleaning the others
    }
  }
}

function onSignal(sig: NodeJS.Signals): void {
  runAll();
  // Then die of the signal as we would have without this handler, unless someone else handles it.
  if (process.listenerCount(sig) === 1) {
    process.removeAllListeners(sig);
    process.kill(process.pid, sig);
  }
}

/** Registers a synchronous clean-up for exit and interrupts; returns its unregistration. */
export function onExitCleanup(fn: () => void): () => void {
  if (!installed) {
    installed = true;
    process.on('exit', runAll);
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  }
  cleanups.add(fn);
  return () => cleanups.delete(fn);
}
