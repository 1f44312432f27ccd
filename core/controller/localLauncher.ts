/**
 * Local engines: the controller is their supervisor. It spawns them, pipes their
 * stdout/stderr to its own stderr with an `[engine N]` prefix, keeps the last stderr
 * lines (to explain a failed start) and reports how each process ended.
 */
import { engineLanguage } from '../kernels/index.js';
import { LaunchError } from '../kernels/launch.js';
import { ForkServerSpawner } from '../launch/forkServer.js';
import { describeExit, NodeSpawner, type ProcessSpawner, type SpawnedProcess } from '../launch/spawner.js';
import type { KernelKind } from '../protocol/messages.js';
import { LineSplitter } from '../util/lines.js';
import { log } from './log.js';

export interface LaunchSpec {
  kind: KernelKind;
  /** The interpreter (for languages that take one, as Python), already resolved. */
  interpreter?: string;
}

/** The spec of a new engine of `kind`: its interpreter resolved from the request and the controller's flag. */
export function launchSpec(kind: KernelKind, requested: string | undefined, flag: string | undefined): LaunchSpec {
  const interpreter = engineLanguage(kind).local.interpreter?.(requested, flag);
  return interpreter === undefined ? { kind } : { kind, interpreter };
}

/** Command line of one engine, from its language's descriptor; throws LaunchError when something it needs is missing. */
export function engineCommand(spec: LaunchSpec, engineFile: string, id: number): { command: string; args: string[] } {
  return engineLanguage(spec.kind).local.command(spec.interpreter, ['--file', engineFile, '--id', String(id)]);
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
  return 'error' in end ? end.error.message : describeExit(end.code, end.signal);
}

const TAIL_LINES = 20;

const nodeSpawner = new NodeSpawner();
/**
 * Python engines are forked from one server per interpreter on Linux (core/launch/forkServer.ts):
 * a Python process's own start is ~0.1-0.2 s of CPU, which 256 engines on 2 cores pay 256 times.
 * MULTIENGINE_PYTHON_FORK=0 spawns each one from scratch.
 */
const forkSpawner = process.platform === 'linux' && process.env.MULTIENGINE_PYTHON_FORK !== '0' ? new ForkServerSpawner(nodeSpawner) : null;

/** Resolves once the fork servers have exited (after their engines), or after `timeoutMs`. */
export function forkServersGone(timeoutMs: number): Promise<void> {
  return forkSpawner?.gone(timeoutMs) ?? Promise.resolve();
}

/** The spawner for a local engine of `spec`'s language. */
function localSpawner(spec: LaunchSpec): ProcessSpawner {
  return spec.kind === 'python' && forkSpawner ? forkSpawner : nodeSpawner;
}

/** One spawned engine process (command line from engineCommand), started through the spawner seam. */
export class LocalProcess implements EngineProcess {
  private readonly proc: SpawnedProcess;
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
    spawner: ProcessSpawner = localSpawner(spec),
  ) {
    this.label = `[engine ${id}] `;
    const { command, args } = cmd;
    const launch = engineLanguage(spec.kind).local;
    const env: NodeJS.ProcessEnv = { ...process.env, [SUPERVISED_ENV]: '1' };
    launch.prepareEnv(env);
    let resolveEnded!: (e: ProcessEnd) => void;
    this.ended = new Promise((r) => (resolveEnded = r));
    // Own process group: a Ctrl-C in the terminal reaches the controller, which shuts the
    // engines down in order, instead of interrupting user code in every engine at once.
    this.proc = spawner.start({ command, args, env: env as Record<string, string>, stdin: 'ignore', detached: process.platform !== 'win32' });
    this.proc.onDidExit((exit) => {
      const code = exit.errorCode;
      const end: ProcessEnd =
        code === undefined
          ? { code: exit.code, signal: exit.signal }
          : { error: new LaunchError(code === 'ENOENT' || code === 'EACCES' ? launch.notFound(command, code) : `cannot start ${JSON.stringify(command)}: ${exit.reason}`) };
      this.end = end;
      resolveEnded(end);
      onEnd(this, end);
    });

    let open = 0;
    let resolveDrained!: () => void;
    const drainedPromise = new Promise<void>((r) => (resolveDrained = r));
    const pipe = (stream: NodeJS.ReadableStream | null, keepTail: boolean) => {
      if (!stream) return;
      open++;
      const split = new LineSplitter();
      (stream as NodeJS.ReadableStream & { setEncoding(e: string): void }).setEncoding('utf8');
      stream.on('data', (text: string) => {
        const lines = split.push(text);
        if (lines.length) this.emit(lines, keepTail);
      });
      stream.on('error', () => {});
      stream.on('close', () => {
        const rest = split.end();
        if (rest) this.emit([rest], keepTail);
        if (--open === 0) resolveDrained();
      });
    };
    pipe(this.proc.stdout, false);
    pipe(this.proc.stderr, true);
    if (open === 0) resolveDrained();
    this.drained = this.ended.then(() => Promise.race([drainedPromise, new Promise<void>((r) => setTimeout(r, 200))]));
  }

  /** 0 when the process could not be spawned, or (forked) until its server has forked it. */
  get pid(): number {
    return Math.max(this.proc.pid, 0);
  }

  /** A forked engine whose pid is not known yet is running: a signal sent to it waits for its pid. */
  get running(): boolean {
    return this.end === null && (this.pid !== 0 || this.proc.state === 'running');
  }

  /** The last lines the process wrote to stderr. */
  stderrTail(): string[] {
    return [...this.tail];
  }

  /** Sends `signal` when the process is still running. */
  kill(signal: NodeJS.Signals = 'SIGKILL'): void {
    if (this.running) this.proc.signal(signal);
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
    log.relay(out);
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
