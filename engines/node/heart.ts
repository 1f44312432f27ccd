/**
 * Starts the heart worker (heartWorker.ts). It is spawned before registration so its
 * startup overlaps the registration round trip, and told its id once registered.
 */
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { HeartConfig, HeartEvent, HeartStart } from './heartWorker.js';

// Compiled, the worker is heartWorker.js next to this file. From source (under tsx) it is
// heartWorker.ts, and `--import tsx` in a worker's execArgv does not make node 20 load .ts
// there, so a one-line bootstrap loads it through tsx's tsImport API instead.
const fromSource = import.meta.url.endsWith('.ts');

function workerUrl(): URL {
  const own = new URL(`./heartWorker${fromSource ? '.ts' : '.js'}`, import.meta.url);
  if (fs.existsSync(fileURLToPath(own))) return own;
  return new URL(`./heartWorker${fromSource ? '.js' : '.ts'}`, import.meta.url);
}

function tsBootstrap(url: URL): string {
  const api = import.meta.resolve('tsx/esm/api');
  return `import(${JSON.stringify(api)}).then((api) => api.tsImport(${JSON.stringify(url.href)}, ${JSON.stringify(import.meta.url)}))`;
}

export class Heart {
  private readonly worker: Worker;

  constructor(config: HeartConfig, onEvent: (e: HeartEvent) => void, onError: (e: Error) => void) {
    const url = workerUrl();
    const ts = url.pathname.endsWith('.ts');
    this.worker = new Worker(ts ? tsBootstrap(url) : url, {
      eval: ts,
      workerData: config,
      execArgv: [],
      // A heartbeat needs next to no memory; small limits keep the idle engine small.
      resourceLimits: ts ? { stackSizeMb: 1 } : { maxOldGenerationSizeMb: 16, maxYoungGenerationSizeMb: 2, stackSizeMb: 1 },
      stdout: false,
      stderr: false,
    });
    this.worker.on('message', onEvent);
    this.worker.on('error', onError);
    this.worker.on('exit', (code) => onEvent({ event: 'exited', reason: `heart worker exited with code ${code}` }));
  }

  /** Connects the heart (again, after a re-registration) and starts beating every `heartbeatMs`. */
  start(id: number, heartbeatMs: number): void {
    this.worker.postMessage({ id, heartbeatMs } satisfies HeartStart);
  }
}
