/**
 * The spawner seam: how a process of ours (the controller, started by Cluster; local engines,
 * started by the controller; engine sets through launchers later) is started, watched and stopped. `NodeSpawner` runs node entries with this
 * process's node; an embedder (Electron's main process) passes its own spawner, so nothing
 * patches process.env around a spawn and a restarted process starts the same way as the first.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import { Emitter, type Event } from '../events/emitter.js';
import { nodeEntry } from '../util/entry.js';
import { waitForExit } from '../util/processes.js';

/**
 * What to start: a node entry of this package (e.g. 'core/controller/main'), which the spawner
 * runs with its node, or a plain command (e.g. a launcher's mpiexec or ssh); then its arguments.
 */
export interface ProcessSpec {
  entry?: string;
  command?: string;
  args: string[];
  /** For an entry: node's own options, before the entry (V8 flags). */
  nodeArgs?: string[];
  /** Added to the spawner's environment (which defaults to process.env). */
  env?: Record<string, string>;
  /** Its own process group: a terminal's Ctrl-C reaches only us, and we stop it in order. */
  detached?: boolean;
  /** 'ignore' gives it no input (default 'pipe'). */
  stdin?: 'pipe' | 'ignore';
}

export interface ProcessExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** 'exited with code 1', 'killed by signal SIGKILL', or why it could not start. */
  reason: string;
  /** The system's error code when it could not start (ENOENT: no such command; EACCES: not executable). */
  errorCode?: string;
}

export type ProcessState = 'running' | 'exited';

/** A started process. Its pipes are its input and output; `onDidExit` fires once. */
export interface SpawnedProcess {
  readonly pid: number;
  readonly state: ProcessState;
  /** How it ended, once `state` is 'exited'. */
  readonly exit: ProcessExit | null;
  /** null when started with `stdin: 'ignore'`. */
  readonly stdin: Writable | null;
  readonly stdout: Readable;
  readonly stderr: Readable;
  readonly onDidExit: Event<ProcessExit>;
  /** Sends `sig`; false when the process is already gone. */
  signal(sig: NodeJS.Signals): boolean;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves once the process is gone. */
  stop(graceMs?: number): Promise<void>;
  /** Lets it outlive us: closes our ends of its pipes and stops holding our event loop. */
  detach(): void;
}

export interface ProcessSpawner {
  start(spec: ProcessSpec): SpawnedProcess;
}

/** Node's child_process with this process's node, and `env` added to process.env. */
export class NodeSpawner implements ProcessSpawner {
  constructor(readonly env: Readonly<Record<string, string>> = {}) {}

  start(spec: ProcessSpec): SpawnedProcess {
    if ((spec.entry === undefined) === (spec.command === undefined)) throw new TypeError('a process spec needs either an entry or a command');
    const { command, args } = spec.entry !== undefined ? nodeEntry(spec.entry) : { command: spec.command!, args: [] };
    const child = spawn(command, [...(spec.nodeArgs ?? []), ...args, ...spec.args], {
      stdio: [spec.stdin ?? 'pipe', 'pipe', 'pipe'],
      detached: spec.detached ?? false,
      windowsHide: true,
      env: { ...process.env, ...this.env, ...spec.env },
    });
    return new ChildHandle(child);
  }
}

/** How a process ended, in words: 'exited with code 1', 'killed by signal SIGKILL'. */
export function describeExit(code: number | null, signal: NodeJS.Signals | null): string {
  return signal ? `killed by signal ${signal}` : `exited with code ${code}`;
}

class ChildHandle implements SpawnedProcess {
  private readonly exited = new Emitter<ProcessExit>();
  readonly onDidExit = this.exited.event;
  exit: ProcessExit | null = null;
  readonly pid: number;

  constructor(private readonly child: ChildProcess) {
    // pid is undefined when the spawn itself failed; 'error' then reports why.
    this.pid = child.pid ?? -1;
    const done = (e: ProcessExit) => {
      if (this.exit) return;
      this.exit = e;
      this.exited.fire(e);
      this.exited.dispose();
    };
    child.once('exit', (code, signal) => done({ code, signal, reason: describeExit(code, signal) }));
    child.once('error', (e: NodeJS.ErrnoException) => {
      if (child.pid === undefined) done({ code: null, signal: null, reason: `could not start: ${e.message}`, errorCode: e.code });
    });
    child.stdin?.on('error', () => {});
  }

  get state(): ProcessState {
    return this.exit ? 'exited' : 'running';
  }
  get stdin(): Writable | null {
    return this.child.stdin;
  }
  get stdout(): Readable {
    return this.child.stdout!;
  }
  get stderr(): Readable {
    return this.child.stderr!;
  }

  signal(sig: NodeJS.Signals): boolean {
    if (this.exit) return false;
    try {
      return this.child.kill(sig);
    } catch {
      return false;
    }
  }

  async stop(graceMs = 5000): Promise<void> {
    if (this.exit || this.pid <= 0) return;
    this.signal('SIGTERM');
    if (await waitForExit(this.pid, graceMs)) return;
    this.signal('SIGKILL');
    await waitForExit(this.pid, 2000);
  }

  detach(): void {
    this.child.unref();
    this.child.stdout!.destroy();
    this.child.stderr!.destroy();
    this.child.stdin?.end();
  }
}
