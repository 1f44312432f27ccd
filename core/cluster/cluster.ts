/**
 * Cluster: starts and supervises a local controller process, which in turn launches
 * and supervises the engines. The Cluster talks to its controller as an ordinary
 * client, so everything it does can also be done from `multiengine` on the command line.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import os from 'node:os';
import readline from 'node:readline';
import { Client } from '../client/client.js';
import type { EngineInfo, KernelKind } from '../protocol/messages.js';
import { nodeEntry } from '../util/entry.js';
import { isAlive, waitForExit } from '../util/processes.js';

export interface ClusterOptions {
  /** Number of engines to start; defaults to the number of CPU cores. 0 starts none. */
  n?: number;
  /** Engine runtime for the first engines. */
  engine?: KernelKind;
  profile?: string;
  /** Overrides $MULTIENGINE_DIR (default ~/.multiengine). */
  dir?: string;
  ip?: string;
  port?: number;
  heartbeatMs?: number;
  deadAfterMs?: number;
  python?: string;
  maxMessageBytes?: number;
  /** Keep the controller running when this process exits (multiengine start --daemon). */
  detached?: boolean;
  /** Pass the controller's and engines' logs through to this process's stderr. */
  verbose?: boolean;
  /** How long to wait for the controller and engines to come up. */
  timeoutMs?: number;
}

interface ReadyLine {
  event: 'ready';
  port: number;
  client_file: string;
  engine_file: string;
  pid: number;
}

export class ClusterError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ClusterError';
  }
}

export class Cluster {
  /** Every engine pid this cluster has seen, so stop() can make sure none is left. */
  private readonly enginePids = new Set<number>();
  private stopped = false;

  private constructor(
    private readonly controller: ChildProcess,
    private readonly ready: ReadyLine,
    private readonly control: Client,
    readonly profile: string,
  ) {
    this.trackPids(control.engines);
    control.onDidChangeEngines(() => this.trackPids(control.engines));
  }

  /** Starts a controller and `n` engines; resolves once all of them are registered. */
  static async start(opts: ClusterOptions = {}): Promise<Cluster> {
    const n = opts.n ?? os.availableParallelism();
    if (!Number.isInteger(n) || n < 0) throw new ClusterError(`n must be a whole number of engines, got ${String(opts.n)}`);
    const profile = opts.profile ?? 'default';
    const { command, args } = nodeEntry('core/controller/main');
    args.push('--profile', profile);
    if (opts.dir) args.push('--dir', opts.dir);
    if (opts.ip) args.push('--ip', opts.ip);
    if (opts.port !== undefined) args.push('--port', String(opts.port));
    if (opts.heartbeatMs) args.push('--heartbeat-ms', String(opts.heartbeatMs));
    if (opts.deadAfterMs) args.push('--dead-after-ms', String(opts.deadAfterMs));
    if (opts.python) args.push('--python', opts.python);
    if (opts.maxMessageBytes) args.push('--max-message-bytes', String(opts.maxMessageBytes));
    if (!opts.detached) args.push('--exit-with-parent');

    const child = spawn(command, args, {
      stdio: ['pipe', 'pipe', 'pipe'],
      // Its own process group: a terminal's Ctrl-C reaches us, and we stop the cluster in order.
      detached: true,
      env: process.env,
    });
    const logTail: string[] = [];
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (text: string) => {
      if (opts.verbose || process.env.MULTIENGINE_DEBUG) process.stderr.write(text);
      logTail.push(...text.split('\n').filter(Boolean));
      if (logTail.length > 40) logTail.splice(0, logTail.length - 40);
    });
    const timeoutMs = opts.timeoutMs ?? 30_000;
    let ready: ReadyLine;
    try {
      ready = await readReadyLine(child, timeoutMs, logTail);
    } catch (e) {
      if (child.exitCode === null) child.kill('SIGKILL');
      throw e;
    }
    if (opts.detached) {
      child.unref();
      child.stdout!.destroy();
      child.stderr!.destroy();
      (child.stdin as NodeJS.WritableStream & { unref?: () => void }).end();
    }
    const control = await Client.connect({ file: ready.client_file, timeoutMs });
    const cluster = new Cluster(child, ready, control, profile);
    if (n > 0) {
      try {
        await cluster.addEngines(n, { engine: opts.engine });
      } catch (e) {
        await cluster.stop();
        throw e;
      }
    }
    return cluster;
  }

  /** The client connection file: pass it to `Client.connect(file)`. */
  get connectionFile(): string {
    return this.ready.client_file;
  }

  get engineConnectionFile(): string {
    return this.ready.engine_file;
  }

  get controllerPid(): number {
    return this.ready.pid;
  }

  get ids(): number[] {
    return this.control.ids;
  }

  /** A new client of this cluster; close it when done (stop() closes the cluster's own). */
  connect(): Promise<Client> {
    return Client.connect({ file: this.ready.client_file });
  }

  async addEngines(n: number, opts: { engine?: KernelKind; python?: string } = {}): Promise<number[]> {
    if (!Number.isInteger(n) || n < 1) throw new ClusterError(`addEngines needs a whole number ≥ 1, got ${String(n)}`);
    const reply = await this.control.request('add_engines_request', { n, engine: opts.engine ?? 'node', python: opts.python });
    await this.control.refreshEngines();
    this.trackPids(this.control.engines);
    return reply.ids;
  }

  async stopEngine(id: number): Promise<void> {
    await this.control.request('stop_engine_request', { id });
    await this.control.refreshEngines();
  }

  async restartEngine(id: number): Promise<void> {
    await this.control.request('restart_engine_request', { id });
    await this.control.refreshEngines();
    this.trackPids(this.control.engines);
  }

  async engines(): Promise<EngineInfo[]> {
    return (await this.control.status()).engines;
  }

  /** Stops the controller and every engine, and waits until none of their processes is left. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    try {
      await this.control.refreshEngines();
      this.trackPids(this.control.engines);
    } catch {
      /* controller may already be gone */
    }
    try {
      await this.control.request('controller_shutdown_request', {}, 5000);
    } catch {
      /* fall through to signals */
    }
    this.control.close();
    const pid = this.ready.pid;
    if (!(await waitForExit(pid, 5000))) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
      await waitForExit(pid, 2000);
    }
    for (const p of this.enginePids) {
      if (isAlive(p) && !(await waitForExit(p, 2000))) {
        try {
          process.kill(p, 'SIGKILL');
        } catch {
          /* already gone */
        }
      }
    }
    this.controller.stdin?.destroy();
  }

  /** Every pid the cluster started: controller first, then engines. */
  get pids(): number[] {
    return [this.ready.pid, ...this.enginePids];
  }

  private trackPids(engines: readonly EngineInfo[]): void {
    for (const e of engines) if (e.pid > 0) this.enginePids.add(e.pid);
  }
}

function readReadyLine(child: ChildProcess, timeoutMs: number, logTail: string[]): Promise<ReadyLine> {
  return new Promise((resolve, reject) => {
    const rl = readline.createInterface({ input: child.stdout! });
    const fail = (why: string) => {
      clearTimeout(timer);
      rl.close();
      const log = logTail.length ? `\n${logTail.slice(-10).join('\n')}` : '';
      reject(new ClusterError(`controller did not start: ${why}${log}`));
    };
    const timer = setTimeout(() => fail(`no ready line within ${timeoutMs} ms`), timeoutMs);
    child.once('exit', (code, signal) => fail(`it exited with ${signal ?? `code ${code}`}`));
    child.once('error', (e) => fail(e.message));
    rl.once('line', (line) => {
      clearTimeout(timer);
      child.removeAllListeners('exit');
      try {
        const ready = JSON.parse(line) as ReadyLine;
        if (ready.event !== 'ready') throw new Error(`unexpected first line ${line}`);
        resolve(ready);
      } catch (e) {
        fail((e as Error).message);
      }
    });
  });
}
