/**
 * The ssh launcher: one `ssh <args> host -- <engine command>` per engine, hosts given as
 * { hostb: 2, hostc: 2 } or "hostb:2,hostc:2" (engine k takes first id + k, hosts in the order
 * given). Multiengine must be installed at the same path on the remote hosts (a shared
 * filesystem), or its folder named with `root`.
 *
 * The key never reaches a command line: the connection information is the first line of the
 * engine's stdin, which ssh carries. We keep that stdin open, and the engine exits when it
 * closes, so a stopped or lost ssh leaves nothing behind on the remote host.
 */
import type { EngineSetContext, EngineSetLauncher, LauncherPlugin } from './launcher.js';
import { LauncherError } from './launcher.js';
import { checkKnown, missingTool, optionalString, OutputLog, showCommand, StatusCell, stringList } from './launcherKit.js';
import { parseHosts, type EngineSlot } from './sshHosts.js';
import type { SpawnedProcess } from './spawner.js';

const OPTIONS = ['hosts', 'ssh', 'sshArgs', 'program', 'root'] as const;
/** After their stdin closed, ssh sessions get this long to end (their engines exit), then SIGTERM. */
const STOP_GRACE_MS = 10_000;
/** Characters of one ssh's own output kept to quote when it fails. */
const FAILURE_TAIL_CHARS = 2000;

/** One argument list as one POSIX shell string: every word single-quoted, so the remote shell runs exactly it. */
export function shellQuote(argv: readonly string[]): string {
  return argv.map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
}

/** One engine's ssh session. */
interface Session {
  readonly slot: EngineSlot;
  readonly proc: SpawnedProcess;
  /** The engine registered with the controller: a later exit loses that engine, it is no failed start. */
  registered: boolean;
  /** A newer session of the same engine replaced this one (restartEngine). */
  replaced: boolean;
  /** Settles restartEngine once this session's engine registered or its ssh ended. */
  settle?: (err?: Error) => void;
}

class SshLauncher implements EngineSetLauncher {
  private readonly cell = new StatusCell();
  private readonly out = new OutputLog();
  private readonly slots: EngineSlot[];
  private readonly ssh: string;
  private readonly sshArgs: string[];
  private readonly program: string | undefined;
  private readonly root: string | undefined;
  /** The current session of each engine id. */
  private readonly current = new Map<number, Session>();
  /** Every ssh still running, replaced ones included, so stop() leaves none. */
  private readonly live = new Set<SpawnedProcess>();
  private stopping = false;
  readonly onDidChangeStatus = this.cell.onDidChange;

  constructor(
    private readonly ctx: EngineSetContext,
    options: Readonly<Record<string, unknown>>,
  ) {
    checkKnown(options, OPTIONS, 'ssh');
    this.slots = parseHosts(options.hosts, ctx.n, ctx.firstId);
    this.ssh = optionalString(options, 'ssh') ?? 'ssh';
    this.sshArgs = stringList(options, 'sshArgs');
    this.program = optionalString(options, 'program');
    this.root = optionalString(options, 'root');
  }

  get status() {
    return this.cell.status;
  }

  async start(): Promise<void> {
    const hosts = [...new Set(this.slots.map((s) => s.host))];
    this.ctx.log(`ssh: ${this.slots.length} engines on ${hosts.join(', ')}`);
    for (const slot of this.slots) {
      const session = this.open(slot);
      if (session.proc.pid <= 0) {
        const exit = await new Promise<{ reason: string; errorCode?: string }>((r) => (session.proc.exit ? r(session.proc.exit) : session.proc.onDidExit(r)));
        throw new LauncherError(exit.errorCode ? missingTool(this.ssh, exit.errorCode, 'install an ssh client (apt install openssh-client), or name it with the ssh option') : `${this.ssh} ${exit.reason}`);
      }
    }
    this.cell.set({ state: 'running' });
  }

  /** Starts the ssh of one engine and hands it the connection information. */
  private open(slot: EngineSlot): Session {
    const { ctx } = this;
    // The default program is the remote one on PATH ('node', or the python asked for), not this machine's path.
    const program = this.program ?? (ctx.engine === 'node' ? 'node' : (ctx.interpreter ?? 'python3'));
    const remote = ctx.engineCommand({ program, root: this.root, id: slot.id, connectionOnStdin: true });
    // `--` ends ssh's options: what follows the host is the command, whatever it looks like.
    const command = shellQuote(remote);
    const argv = [this.ssh, ...this.sshArgs, slot.host, '--', command];
    const prefix = `[${slot.host}] `;
    this.out.append(`${prefix}$ ${showCommand(argv.slice(0, -1))} ${command}\n`);
    // Its own process group: a terminal's Ctrl-C to the controller does not cut the sessions; stop() ends them in order.
    const proc = ctx.spawner.start({ command: argv[0], args: argv.slice(1), detached: process.platform !== 'win32' });
    const session: Session = { slot, proc, registered: false, replaced: false };
    this.current.set(slot.id, session);
    // One ssh per engine: all it prints is that engine's (ssh's own warnings included).
    const relay = (line: string) => line.trim() !== '' && ctx.engineOutput(line, slot.id);
    this.out.attach(proc.stdout, prefix, relay);
    this.out.attach(proc.stderr, prefix, relay);
    let said = '';
    const keep = (text: string) => (said = (said + text).slice(-FAILURE_TAIL_CHARS));
    proc.stdout.on('data', keep);
    proc.stderr.on('data', keep);
    if (proc.pid > 0) {
      this.live.add(proc);
      proc.stdin?.write(`${ctx.connectionLine}\n`);
    }
    proc.onDidExit((exit) => {
      this.live.delete(proc);
      // The pipes may still hold what ssh printed last: read them to their end before quoting them.
      void Promise.all([ended(proc.stdout), ended(proc.stderr)]).then(() => this.exited(session, exit.reason, said));
    });
    return session;
  }

  private exited(session: Session, how: string, said: string): void {
    const { slot } = session;
    const head = `ssh to ${slot.host} for engine ${slot.id} ${how}`;
    this.out.append(`[${slot.host}] ${head}\n`);
    const quoted = said.trim().split('\n').slice(-4).join(' | ');
    const why = quoted ? `${head}: ${quoted}` : head;
    if (this.stopping || session.replaced || session.registered) return;
    if (session.settle) {
      session.settle(new LauncherError(why + this.loopbackHint()));
      return;
    }
    // Before its engine registered (ssh could not connect or log in, or the remote command
    // failed): the set cannot start, and the add fails now with ssh's own words.
    this.cell.set({ state: 'ended', reason: why + this.loopbackHint() });
  }

  /** Engines on other hosts cannot reach a controller on loopback: say so beside the failure it causes. */
  private loopbackHint(): string {
    const { ip } = JSON.parse(this.ctx.connectionLine) as { ip?: string };
    return ip !== undefined && /^(127\.|::1$|localhost$)/.test(ip) ? ` (the controller listens on ${ip}, which engines on other hosts cannot reach: start it with ip, --ip, set to an address they can)` : '';
  }

  engineRegistered(id: number): void {
    const session = this.current.get(id);
    if (!session || session.registered) return;
    session.registered = true;
    session.settle?.();
  }

  /** A new ssh for engine `id` on its host; resolves once the engine registered, rejects with ssh's words when it ended first. */
  restartEngine(id: number): Promise<void> {
    const old = this.current.get(id);
    if (!old) return Promise.reject(new LauncherError(`engine ${id} is not one of this ssh set's engines`));
    if (this.stopping) return Promise.reject(new LauncherError('the set is stopping'));
    old.replaced = true;
    old.proc.stdin?.end();
    return new Promise((resolve, reject) => {
      const session = this.open(old.slot);
      session.settle = (err) => {
        session.settle = undefined;
        if (err) reject(err);
        else resolve();
      };
      if (session.proc.pid <= 0) session.settle(new LauncherError(`${this.ssh} could not be started again`));
    });
  }

  async stop(): Promise<void> {
    this.stopping = true;
    for (const s of this.current.values()) s.settle?.(new LauncherError('the set was stopped'));
    const procs = [...this.live];
    // Closing stdin ends each engine (it exits when its stdin closes), then its session.
    for (const p of procs) p.stdin?.end();
    await Promise.all(procs.map((p) => exitWithin(p, STOP_GRACE_MS)));
    await Promise.all(procs.filter((p) => p.state !== 'exited').map((p) => p.stop(2000)));
    this.cell.set({ state: 'ended', reason: 'stopped' });
  }

  async signal(sig: NodeJS.Signals): Promise<void> {
    // Without a terminal, ssh passes no signal on to the remote command: ending a session
    // (which ends its engine) is all a signal can do here.
    if (sig !== 'SIGTERM' && sig !== 'SIGKILL' && sig !== 'SIGHUP') {
      throw new LauncherError(`the ssh launcher cannot send ${sig} to remote engines (ssh passes no signals without a terminal); use the client's interrupt, or SIGTERM to end the sessions`);
    }
    for (const p of this.live) p.signal(sig);
  }

  output(): string {
    return this.out.text();
  }
}

/** Resolves once `stream` has nothing more to read. */
function ended(stream: NodeJS.ReadableStream & { readableEnded?: boolean; destroyed?: boolean }): Promise<void> {
  if (stream.readableEnded || stream.destroyed) return Promise.resolve();
  return new Promise((r) => {
    stream.once('end', r);
    stream.once('close', r);
  });
}

/** true when `proc` exited within `ms`. */
function exitWithin(proc: SpawnedProcess, ms: number): Promise<boolean> {
  if (proc.state === 'exited') return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    proc.onDidExit(() => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

const plugin: LauncherPlugin = {
  name: 'ssh',
  create: (ctx, options) => new SshLauncher(ctx, options),
};
export default plugin;
