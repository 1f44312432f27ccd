/**
 * Processes of the cluster fixtures, always by pid: run a command to completion, start a daemon
 * in the foreground with its output in a log file, find processes by network namespace or by
 * an environment marker, and stop a set of pids (SIGTERM, then SIGKILL after a grace period).
 */
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import { logTail } from './fixtureRequirements.ts';
import { eventually } from './poll.ts';

export interface CommandResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** Whether it was killed for outliving its timeoutMs. */
  timedOut: boolean;
}

export interface RunOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Written to the command's stdin (which is closed either way). */
  input?: string;
  /** Killed (SIGTERM, then SIGKILL) after this long; the result then has its signal. */
  timeoutMs?: number;
}

/** Collects a child's output until it exits; kills it by pid if it outlives `timeoutMs`. */
export function collect(child: ChildProcess, opts: RunOptions = {}): Promise<CommandResult> {
  let stdout = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  if (child.stdin) {
    child.stdin.on('error', () => {}); // a command that exits without reading its input
    child.stdin.end(opts.input ?? '');
  }
  let timedOut = false;
  const timer =
    opts.timeoutMs === undefined
      ? undefined
      : setTimeout(() => {
          timedOut = true;
          if (child.pid !== undefined) void stopPids([child.pid], 1000);
        }, opts.timeoutMs);
  return new Promise((resolve, reject) => {
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, timedOut });
    });
  });
}

/** Runs argv to completion (never through a shell) and returns its exit and output. */
export function runCommand(argv: readonly string[], opts: RunOptions = {}): Promise<CommandResult> {
  const child = spawn(argv[0], argv.slice(1), { env: opts.env ?? process.env, cwd: opts.cwd, stdio: ['pipe', 'pipe', 'pipe'] });
  return collect(child, opts);
}

/** How a command ended, for an error message: `exit 2`, `SIGSEGV`, `timed out after 500 ms`. */
export function describeEnd(r: CommandResult, opts: RunOptions = {}): string {
  if (r.timedOut) return `timed out after ${opts.timeoutMs} ms`;
  return r.signal ?? `exit ${r.code}`;
}

/** Like runCommand, but a non-zero exit throws with the command and its stderr. */
export async function runChecked(argv: readonly string[], opts: RunOptions = {}): Promise<string> {
  const r = await runCommand(argv, opts);
  if (r.code !== 0) {
    throw new Error(`\`${argv.join(' ')}\` failed (${describeEnd(r, opts)}): ${(r.stderr || r.stdout).trim()}`);
  }
  return r.stdout;
}

export interface Daemon {
  name: string;
  pid: number;
  log: string;
  child: ChildProcess;
  /** Resolves when the process has exited. */
  exited: Promise<void>;
  /** Whether it is still running (its exit not yet seen). */
  running(): boolean;
}

/**
 * Starts a daemon that stays in the foreground (-D/-F), so it remains our child and can be
 * stopped by pid; its stdout and stderr are appended to `log`.
 */
export function startDaemon(name: string, argv: readonly string[], log: string, opts: SpawnOptions = {}): Daemon {
  const fd = fs.openSync(log, 'a');
  let child: ChildProcess;
  try {
    child = spawn(argv[0], argv.slice(1), { ...opts, stdio: ['ignore', fd, fd] });
  } finally {
    fs.closeSync(fd);
  }
  if (child.pid === undefined) throw new Error(`could not start ${name} (${argv[0]}): ${logTail(log)}`);
  let running = true;
  const exited = new Promise<void>((resolve) => {
    child.on('exit', () => {
      running = false;
      resolve();
    });
    child.on('error', () => {
      running = false;
      resolve();
    });
  });
  return { name, pid: child.pid, log, child, exited, running: () => running };
}

/** The error for a daemon that stopped or never became ready, quoting its log. */
export function daemonError(d: Daemon, what: string, extraLog?: string): Error {
  const status = d.running() ? 'is running but' : `exited (code ${d.child.exitCode ?? d.child.signalCode})`;
  const logs = [`--- ${d.log}:\n${logTail(d.log)}`];
  if (extraLog) logs.push(`--- ${extraLog}:\n${logTail(extraLog)}`);
  return new Error(`${d.name} (pid ${d.pid}) ${status} ${what}. Last lines of its log:\n${logs.join('\n')}`);
}

/** Polls `ready` while the daemon runs; throws with its log if it exits or times out first. */
export async function untilDaemonReady(d: Daemon, ready: () => boolean | Promise<boolean>, what: string, timeoutMs = 30_000, extraLog?: string): Promise<void> {
  const ok = await eventually(async () => !d.running() || (await ready()), timeoutMs);
  if (!ok || !d.running()) throw daemonError(d, `did not get ready (${what})`, extraLog);
}

/** Whether `pid` is a live process (a zombie counts as gone). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

function allPids(): number[] {
  return fs
    .readdirSync('/proc')
    .filter((n) => /^\d+$/.test(n))
    .map(Number)
    .filter((p) => p !== process.pid);
}

/** The network namespace id of `pid` (`net:[inode]`), or null when it is gone or unreadable. */
export function netnsOf(pid: number): string | null {
  try {
    return fs.readlinkSync(`/proc/${pid}/ns/net`);
  } catch {
    return null;
  }
}

/** The live processes whose network namespace is one of `netnsIds`. */
export function pidsInNetns(netnsIds: readonly string[]): number[] {
  const wanted = new Set(netnsIds);
  return allPids().filter((p) => {
    const ns = netnsOf(p);
    return ns !== null && wanted.has(ns) && alive(p);
  });
}

/** The live processes whose environment has `name` set to a value starting with `prefix`. */
export function pidsWithEnv(name: string, prefix: string): number[] {
  const needle = `${name}=${prefix}`;
  return allPids().filter((p) => {
    let env: string;
    try {
      env = fs.readFileSync(`/proc/${p}/environ`, 'latin1');
    } catch {
      return false;
    }
    return env.split('\0').some((kv) => kv.startsWith(needle)) && alive(p);
  });
}

function signal(pids: readonly number[], sig: NodeJS.Signals): void {
  for (const p of pids) {
    try {
      process.kill(p, sig);
    } catch {
      // already gone
    }
  }
}

/**
 * Stops `pids`: SIGTERM first (mpiexec must end its ranks, which SIGKILL would orphan), then
 * SIGKILL whatever outlives `graceMs`. Resolves with the pids that survived even that.
 */
export async function stopPids(pids: readonly number[], graceMs = 3000): Promise<number[]> {
  signal(pids, 'SIGTERM');
  if (await eventually(() => pids.every((p) => !alive(p)), graceMs)) return [];
  signal(
    pids.filter((p) => alive(p)),
    'SIGKILL',
  );
  await eventually(() => pids.every((p) => !alive(p)), 2000);
  return pids.filter((p) => alive(p));
}

/** The synchronous last resort at process exit: SIGKILL, no waiting. */
export function killNow(pids: readonly number[]): void {
  signal(pids, 'SIGKILL');
}

/** `n` distinct TCP ports free on 127.0.0.1 right now (held together so they differ). */
export async function freePorts(n: number): Promise<number[]> {
  const servers: net.Server[] = [];
  try {
    for (let i = 0; i < n; i++) {
      const s = net.createServer();
      servers.push(s);
      await new Promise<void>((resolve, reject) => {
        s.once('error', reject);
        s.listen(0, '127.0.0.1', () => resolve());
      });
    }
    return servers.map((s) => (s.address() as net.AddressInfo).port);
  } finally {
    await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  }
}
