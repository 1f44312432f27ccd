/**
 * Local Python engines forked from a server (engines/python/multiengine_python/fork_server.py):
 * one Python process per interpreter imports the engine once and forks each engine asked for,
 * so the interpreter's start-up (site, the engine's modules, a pyenv shim) is paid once, not
 * per engine. A spawner on the seam like NodeSpawner: each engine is still its own process,
 * with its own pid that we signal directly, its output (relayed by the server, labelled per
 * engine) and its end (the server reaps it and says how it ended). The server lives while it
 * has engines: when the last one has ended its stdin is closed and it exits.
 */
import { constants } from 'node:os';
import { PassThrough, type Readable, type Writable } from 'node:stream';
import { Emitter } from '../events/emitter.js';
import { LineSplitter } from '../util/lines.js';
import { isAlive } from '../util/processes.js';
import { describeExit, type ProcessExit, type ProcessSpawner, type ProcessSpec, type ProcessState, type SpawnedProcess } from './spawner.js';

/** How often an engine whose server is gone is checked for by pid. */
const ORPHAN_POLL_MS = 200;

const SIGNAL_NAMES = new Map<number, NodeJS.Signals>(Object.entries(constants.signals).map(([name, n]) => [n, name as NodeJS.Signals]));

/** A line the server writes on its stdout (see fork_server.py). */
type ServerLine =
  | { seq: number; pid: number }
  | { seq: number; error: string }
  | { out: number; data: string }
  | { exit: number; code: number | null; signal: number | null };

/**
 * Forks engines from one server per command line (`interpreter script`): start() takes the spec
 * an engine would be spawned with (`command` the interpreter, `args` the script and then the
 * engine's own arguments) and sends the engine's arguments to the server.
 */
export class ForkServerSpawner implements ProcessSpawner {
  private readonly servers = new Map<string, ForkServer>();
  /** Every server whose process has not exited yet (accepting or not). */
  private readonly running = new Set<ForkServer>();

  constructor(private readonly base: ProcessSpawner) {}

  start(spec: ProcessSpec): SpawnedProcess {
    // Without a script there is nothing to fork from: spawned as it is.
    if (spec.command === undefined || spec.args.length === 0) return this.base.start(spec);
    const key = `${spec.command}\0${spec.args[0]}`;
    let server = this.servers.get(key);
    if (!server || !server.accepting) {
      const s = (server = new ForkServer(this.base, spec, () => {
        if (this.servers.get(key) === s) this.servers.delete(key);
      }));
      this.servers.set(key, s);
      this.running.add(s);
      void s.exited.then(() => this.running.delete(s));
    }
    return server.fork(spec.args.slice(1));
  }

  /**
   * Resolves once every server has exited (or after `timeoutMs`): a server exits just after its
   * last engine, and one still running when its parent (the controller) exits becomes a zombie
   * under init until init reaps it; the controller waits for its servers before it exits.
   */
  async gone(timeoutMs: number): Promise<void> {
    if (this.running.size === 0) return;
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([Promise.all([...this.running].map((s) => s.exited)), new Promise((r) => (timer = setTimeout(r, timeoutMs)))]);
    clearTimeout(timer);
  }
}

/** One server process and the engines it forked. */
class ForkServer {
  private readonly proc: SpawnedProcess;
  private readonly waiting = new Map<number, ForkedProcess>();
  private readonly byPid = new Map<number, ForkedProcess>();
  private seq = 0;
  private readonly lines = new LineSplitter();
  /** What the server wrote to stderr before its first fork: a failed start is the engines' failed start. */
  private early: string | null = '';
  /** Both its pipes have closed: nothing more to read from it. */
  private readonly drained: Promise<unknown>;
  /** Resolves when the server process has exited. */
  readonly exited: Promise<void>;
  accepting = true;

  constructor(base: ProcessSpawner, spec: ProcessSpec, private readonly onGone: () => void) {
    this.proc = base.start({ command: spec.command, args: [spec.args[0], '--fork-server'], env: spec.env, detached: spec.detached, stdin: 'pipe' });
    this.proc.stdout.setEncoding('utf8');
    this.proc.stdout.on('data', (text: string) => this.read(text));
    this.proc.stderr.setEncoding('utf8');
    // The server's own complaints: held until it has forked (a server that could not start is
    // reported as the engines' start that failed, with these lines), relayed after.
    this.proc.stderr.on('data', (text: string) => {
      if (this.early !== null) this.early = (this.early + text).slice(-8000);
      else relay(text);
    });
    this.drained = Promise.all([this.proc.stdout, this.proc.stderr].map((st) => new Promise((r) => st.once('close', r))));
    this.proc.stdin!.on('error', () => {});
    this.exited = new Promise((resolve) =>
      this.proc.onDidExit((exit) => {
        resolve();
        void this.ended(exit);
      }),
    );
  }

  fork(args: string[]): ForkedProcess {
    const seq = ++this.seq;
    const child = new ForkedProcess();
    this.waiting.set(seq, child);
    this.proc.stdin!.write(JSON.stringify({ seq, args }) + '\n');
    return child;
  }

  private read(text: string): void {
    for (const line of this.lines.push(text)) {
      if (line.trim() === '') continue;
      let m: ServerLine;
      try {
        m = JSON.parse(line) as ServerLine;
      } catch {
        process.stderr.write(`[python fork server] ${line}\n`);
        continue;
      }
      if ('seq' in m) {
        const child = this.waiting.get(m.seq);
        this.waiting.delete(m.seq);
        if (!child) continue;
        if ('pid' in m) {
          if (this.early !== null) relay(this.early);
          this.early = null;
          this.byPid.set(m.pid, child);
          child.forked(m.pid);
        } else child.ended({ code: null, signal: null, reason: `could not start: ${m.error}` });
      } else if ('out' in m) this.byPid.get(m.out)?.output(m.data);
      else if ('exit' in m) {
        const child = this.byPid.get(m.exit);
        this.byPid.delete(m.exit);
        const signal = m.signal === null ? null : (SIGNAL_NAMES.get(m.signal) ?? null);
        child?.ended({ code: m.code, signal, reason: describeExit(m.code, signal) });
      }
      this.closeWhenIdle();
    }
  }

  /** No engines left and none asked for: the server may go (it exits once its stdin closes). */
  private closeWhenIdle(): void {
    if (!this.accepting || this.waiting.size > 0 || this.byPid.size > 0) return;
    this.accepting = false;
    this.onGone();
    this.proc.stdin!.end();
  }

  private async ended(exit: ProcessExit): Promise<void> {
    this.accepting = false;
    this.onGone();
    // Its last lines (its engines' exits, its complaints) may be read after its exit.
    await Promise.race([this.drained, new Promise((r) => setTimeout(r, 200))]);
    // Engines not forked yet end as the server did: the process that was to become each of them.
    for (const child of this.waiting.values()) child.failedWith(this.proc.pid, this.early ?? '', exit);
    if (this.waiting.size === 0 && this.early) relay(this.early);
    this.waiting.clear();
    // Engines it had forked may outlive it (they end with their controller connection): watched by pid.
    for (const [pid, child] of this.byPid) child.orphaned(pid);
    this.byPid.clear();
  }
}

function relay(text: string): void {
  process.stderr.write(text.replace(/^(?=.)/gm, '[python fork server] '));
}

/** A forked engine: a SpawnedProcess whose pid is known once the server has forked it. */
class ForkedProcess implements SpawnedProcess {
  private readonly exited = new Emitter<ProcessExit>();
  readonly onDidExit = this.exited.event;
  exit: ProcessExit | null = null;
  pid = 0;
  readonly stdin: Writable | null = null;
  readonly stdout: Readable = new PassThrough();
  /** Its stdout and stderr, as the server relays them on one pipe. */
  readonly stderr = new PassThrough();
  /** A signal sent before the fork was done, delivered once it is. */
  private pending: NodeJS.Signals | null = null;

  get state(): ProcessState {
    return this.exit ? 'exited' : 'running';
  }

  forked(pid: number): void {
    this.pid = pid;
    if (this.pending) this.signal(this.pending);
  }

  output(text: string): void {
    if (!this.exit) this.stderr.write(text);
  }

  ended(e: ProcessExit): void {
    if (this.exit) return;
    this.exit = e;
    (this.stdout as PassThrough).end();
    this.stderr.end();
    this.exited.fire(e);
    this.exited.dispose();
  }

  /** Its server ended before forking it: that process's pid, output and end are this engine's. */
  failedWith(pid: number, output: string, exit: ProcessExit): void {
    this.pid = Math.max(pid, 0);
    this.output(output);
    this.ended(exit);
  }

  orphaned(pid: number): void {
    const timer = setInterval(() => {
      if (isAlive(pid)) return;
      clearInterval(timer);
      this.ended({ code: null, signal: null, reason: 'ended after its fork server (how is not known)' });
    }, ORPHAN_POLL_MS);
    timer.unref();
  }

  signal(sig: NodeJS.Signals): boolean {
    if (this.exit) return false;
    if (this.pid === 0) {
      // SIGKILL wins over anything queued before it.
      if (this.pending !== 'SIGKILL') this.pending = sig;
      return true;
    }
    try {
      process.kill(this.pid, sig);
      return true;
    } catch {
      return false;
    }
  }

  async stop(graceMs = 5000): Promise<void> {
    if (this.exit) return;
    const gone = new Promise<void>((r) => this.onDidExit(() => r()));
    const within = (ms: number) => Promise.race([gone.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), ms).unref())]);
    this.signal('SIGTERM');
    if (await within(graceMs)) return;
    this.signal('SIGKILL');
    await within(2000);
  }

  detach(): void {
    this.stdout.destroy();
    this.stderr.destroy();
  }
}
