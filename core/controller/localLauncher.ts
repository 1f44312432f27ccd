/**
 * Local engines: the controller is their supervisor. It spawns them, pipes their
 * stdout/stderr to its own stderr with an `[engine N]` prefix, keeps the last stderr
 * lines (to explain a failed start) and reports how each process ended.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { KernelKind } from '../protocol/messages.js';
import { nodeEntry, packageRoot } from '../util/entry.js';

/** A local engine could not be started; the message says why. */
export class LaunchError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LaunchError';
  }
}

export interface LaunchSpec {
  kind: KernelKind;
  /** The python interpreter (python engines only), already resolved. */
  python?: string;
}

/** The interpreter for python engines: request > --python > $MULTIENGINE_PYTHON > python3. */
export function resolvePython(requested: string | undefined, flag: string | undefined): string {
  return requested || flag || process.env.MULTIENGINE_PYTHON || 'python3';
}

/** Where `command` would be found (a path, or a name searched on PATH); null when it is not there. */
export function findExecutable(command: string): string | null {
  const exts = process.platform === 'win32' ? ['', ...(process.env.PATHEXT ?? '.EXE;.CMD;.BAT').split(';')] : [''];
  const candidates = command.includes('/') || command.includes(path.sep)
    ? [command]
    : (process.env.PATH ?? '').split(path.delimiter).filter(Boolean).map((d) => path.join(d, command));
  for (const c of candidates) {
    for (const ext of exts) {
      try {
        fs.accessSync(c + ext, fs.constants.X_OK);
        if (fs.statSync(c + ext).isFile()) return c + ext;
      } catch {
        /* next */
      }
    }
  }
  return null;
}

// A packaged app sets MULTIENGINE_PYTHON_ENGINE: Python cannot read the copy inside app.asar.
/**
 * Node engines hold large arrays (pushed, scattered, computed), so their large allocations ask
 * for transparent huge pages, as numpy does for its own arrays: glibc's malloc then advises
 * MADV_HUGEPAGE on the memory it maps. Receiving 16 MiB into fresh memory then costs 8 page
 * faults instead of 4,096 (a fault costs ~2.3 µs on the VMs this was measured on). V8 maps its
 * own heap, so an idle engine grows by ≤ 1.5 MB; a Python engine's whole heap would round up in
 * 2 MiB steps, so it advises only its large receive buffers. Linux only; an existing
 * GLIBC_TUNABLES setting of it is kept; MULTIENGINE_HUGEPAGES=0 turns it off.
 */
export function withHugePages(env: NodeJS.ProcessEnv): void {
  if (process.platform !== 'linux' || env.MULTIENGINE_HUGEPAGES === '0') return;
  const tunables = env.GLIBC_TUNABLES ?? '';
  if (/glibc\.malloc\.hugetlb=/.test(tunables)) return;
  env.GLIBC_TUNABLES = tunables ? `${tunables}:glibc.malloc.hugetlb=1` : 'glibc.malloc.hugetlb=1';
}

export const PYTHON_ENGINE_SCRIPT = process.env.MULTIENGINE_PYTHON_ENGINE ?? path.join(packageRoot, 'engines', 'python', 'multiengine_engine.py');

/**
 * Source mode runs engines with `--import tsx`, which node resolves from the current
 * directory. Engines keep the controller's cwd (user code may rely on it), so resolve the
 * loader from this package instead.
 */
function absoluteLoader(arg: string, i: number, args: string[]): string {
  if (arg !== 'tsx' || args[i - 1] !== '--import') return arg;
  try {
    return import.meta.resolve('tsx');
  } catch {
    return arg;
  }
}

/** Command line of one engine; throws LaunchError when the engine's entry file is missing. */
export function engineCommand(spec: LaunchSpec, engineFile: string, id: number): { command: string; args: string[] } {
  const tail = ['--file', engineFile, '--id', String(id)];
  if (spec.kind === 'node') {
    const { command, args } = nodeEntry('engines/node/main');
    const script = args[args.length - 1];
    if (!fs.existsSync(script)) throw new LaunchError(`the node engine is not installed: no ${script}`);
    return { command, args: [...args.map(absoluteLoader), ...tail] };
  }
  const python = spec.python ?? 'python3';
  if (findExecutable(python) === null) {
    throw new LaunchError(
      `python interpreter ${JSON.stringify(python)} not found; ` +
        "name one with the request's python option, the controller's --python flag or MULTIENGINE_PYTHON",
    );
  }
  if (!fs.existsSync(PYTHON_ENGINE_SCRIPT)) throw new LaunchError(`the python engine is not installed: no ${PYTHON_ENGINE_SCRIPT}`);
  return { command: python, args: [PYTHON_ENGINE_SCRIPT, ...tail] };
}

export type ProcessEnd = { code: number | null; signal: NodeJS.Signals | null } | { error: Error };

/** An engine process the controller supervises: one it spawned (LocalProcess) or adopted (AdoptedProcess). */
export interface EngineProcess {
  readonly spec: LaunchSpec;
  readonly pid: number;
  /** Set once the process has ended. */
  readonly end: ProcessEnd | null;
  readonly ended: Promise<ProcessEnd>;
  readonly running: boolean;
  kill(signal?: NodeJS.Signals): void;
}

/** Marks engines the controller launched, so a restarted controller can adopt them (registration_request.supervised). */
export const SUPERVISED_ENV = 'MULTIENGINE_SUPERVISED';

export function describeEnd(end: ProcessEnd): string {
  if ('error' in end) return end.error.message;
  if (end.signal) return `killed by signal ${end.signal}`;
  return `exited with code ${end.code}`;
}

const TAIL_LINES = 20;

/** One spawned engine process (command line from engineCommand). */
export class LocalProcess implements EngineProcess {
  readonly child: ChildProcess;
  /** 0 when the process could not be spawned. */
  readonly pid: number;
  /** Set once the process has ended (or failed to spawn). */
  end: ProcessEnd | null = null;
  /** Resolves when the process has ended. */
  readonly ended: Promise<ProcessEnd>;
  /** Resolves when the process has ended and its output is drained (or 200 ms after its end). */
  readonly drained: Promise<void>;
  private readonly tail: string[] = [];
  private readonly label: string;

  constructor(
    readonly spec: LaunchSpec,
    readonly id: number,
    cmd: { command: string; args: string[] },
    onEnd: (proc: LocalProcess, end: ProcessEnd) => void,
  ) {
    this.label = `[engine ${id}] `;
    const { command, args } = cmd;
    const env: NodeJS.ProcessEnv = spec.kind === 'python' ? { ...process.env, PYTHONUNBUFFERED: '1' } : { ...process.env };
    env[SUPERVISED_ENV] = '1';
    if (spec.kind === 'node') withHugePages(env); // the Python engine advises its large buffers itself (wire.py)
    let resolveEnded!: (e: ProcessEnd) => void;
    this.ended = new Promise((r) => (resolveEnded = r));
    const finish = (end: ProcessEnd) => {
      if (this.end) return;
      this.end = end;
      resolveEnded(end);
      onEnd(this, end);
    };
    // Own process group: a Ctrl-C in the terminal reaches the controller, which shuts the
    // engines down in order, instead of interrupting user code in every engine at once.
    this.child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], env, windowsHide: true, detached: process.platform !== 'win32' });
    this.pid = this.child.pid ?? 0;
    this.child.on('error', (e: NodeJS.ErrnoException) => {
      if (this.pid !== 0 && this.child.exitCode === null && this.child.signalCode === null && e.code !== 'ENOENT' && e.code !== 'EACCES') {
        return; // a failed kill() or similar on a live process: its exit comes later
      }
      let why: string;
      if (spec.kind === 'python' && (e.code === 'ENOENT' || e.code === 'EACCES')) {
        why =
          `python interpreter ${JSON.stringify(command)} ${e.code === 'ENOENT' ? 'not found' : 'cannot be run'} (${e.code}); ` +
          'name one with the request\'s python option, the controller\'s --python flag or MULTIENGINE_PYTHON';
      } else {
        why = `cannot start ${JSON.stringify(command)}: ${e.message}`;
      }
      finish({ error: new LaunchError(why) });
    });
    this.child.once('exit', (code, signal) => finish({ code, signal }));

    let open = 0;
    let resolveDrained!: () => void;
    const drainedPromise = new Promise<void>((r) => (resolveDrained = r));
    const pipe = (stream: NodeJS.ReadableStream | null, keepTail: boolean) => {
      if (!stream) return;
      open++;
      let partial = '';
      (stream as NodeJS.ReadableStream & { setEncoding(e: string): void }).setEncoding('utf8');
      stream.on('data', (text: string) => {
        const lines = (partial + text).split('\n');
        partial = lines.pop() ?? '';
        if (lines.length) this.emit(lines, keepTail);
      });
      stream.on('error', () => {});
      stream.on('close', () => {
        if (partial) this.emit([partial], keepTail);
        partial = '';
        if (--open === 0) resolveDrained();
      });
    };
    pipe(this.child.stdout, false);
    pipe(this.child.stderr, true);
    if (open === 0) resolveDrained();
    this.drained = this.ended.then(() => Promise.race([drainedPromise, new Promise<void>((r) => setTimeout(r, 200))]));
  }

  get running(): boolean {
    return this.end === null && this.pid !== 0;
  }

  /** The last lines the process wrote to stderr. */
  stderrTail(): string[] {
    return [...this.tail];
  }

  /** Sends `signal` by pid when the process is still running. */
  kill(signal: NodeJS.Signals = 'SIGKILL'): void {
    if (!this.running) return;
    try {
      process.kill(this.pid, signal);
    } catch {
      /* already gone */
    }
  }

  private emit(lines: string[], keepTail: boolean): void {
    let out = '';
    for (const line of lines) {
      const l = line.endsWith('\r') ? line.slice(0, -1) : line;
      out += this.label + l + '\n';
      if (keepTail) {
        this.tail.push(l);
        if (this.tail.length > TAIL_LINES) this.tail.shift();
      }
    }
    try {
      process.stderr.write(out);
    } catch {
      /* stderr gone */
    }
  }
}

/**
 * An engine process another controller launched (it re-registered after that controller was
 * killed and this one took its place): not our child, so its end is noticed by polling its pid.
 */
export class AdoptedProcess implements EngineProcess {
  end: ProcessEnd | null = null;
  readonly ended: Promise<ProcessEnd>;
  private readonly timer: NodeJS.Timeout;

  constructor(
    readonly spec: LaunchSpec,
    readonly pid: number,
    isAlive: (pid: number) => boolean,
    pollMs = 200,
  ) {
    let resolveEnded!: (e: ProcessEnd) => void;
    this.ended = new Promise((r) => (resolveEnded = r));
    this.timer = setInterval(() => {
      if (isAlive(pid)) return;
      clearInterval(this.timer);
      this.end = { error: new Error('ended') };
      resolveEnded(this.end);
    }, pollMs);
    this.timer.unref();
  }

  get running(): boolean {
    return this.end === null;
  }

  kill(signal: NodeJS.Signals = 'SIGKILL'): void {
    if (!this.running) return;
    try {
      process.kill(this.pid, signal);
    } catch {
      /* already gone */
    }
  }
}

/** Why a process that never registered ended, with its last stderr lines. */
export function earlyExitMessage(proc: LocalProcess, end: ProcessEnd): string {
  if ('error' in end) return end.error.message;
  const tail = proc.stderrTail().filter((l) => l.trim() !== '');
  const what = `${proc.spec.kind} engine ${proc.id} (pid ${proc.pid}) ${describeEnd(end)} before registering`;
  return tail.length ? `${what}; last stderr lines:\n${tail.slice(-10).join('\n')}` : `${what} (it wrote nothing to stderr)`;
}
