/**
 * The test's side of drivers/clusterHost.ts: starts that driver inside a namespace host (so the
 * controller and its client live there, where the hosts' addresses are reachable) and sends it
 * requests. Every request has a timeout; a failure, a timeout or the driver's death rejects
 * with the driver's own stderr, so a test never hangs on it.
 */
import type { ChildProcess } from 'node:child_process';
import path from 'node:path';
import readline from 'node:readline';
import type { ClusterOptions } from 'multiengine';
import { REPO_ROOT, type Hosts } from '../../harness/netHosts.ts';

export const DRIVERS = path.join(REPO_ROOT, 'test/integration/launchers/drivers');
const CALL_TIMEOUT_MS = 120_000;

/** An error the driven cluster or client threw, with its name. */
export class DrivenError extends Error {
  constructor(
    readonly remoteName: string,
    message: string,
  ) {
    super(message);
    this.name = `DrivenError(${remoteName})`;
  }
}

export interface StartedCluster {
  controllerPid: number;
  clientFile: string;
  ids: number[];
  hostname: string;
}

export interface ClusterDriver {
  /** The driver's pid (the controller is its child). */
  readonly pid: number;
  start(cluster: ClusterOptions, env?: Record<string, string>): Promise<StartedCluster>;
  cluster<T = unknown>(method: string, ...args: unknown[]): Promise<T>;
  client<T = unknown>(method: string, ...args: unknown[]): Promise<T>;
  /** A blocking call on a view of `targets` (all engines when undefined). */
  view<T = unknown>(targets: number | number[] | undefined, method: string, ...args: unknown[]): Promise<T>;
  /** Stops the cluster and waits for the driver to exit. */
  stop(): Promise<void>;
  stderr(): string;
}

export function startClusterDriver(hosts: Hosts, host: string): ClusterDriver {
  const child: ChildProcess = hosts.spawnOn(host, [process.execPath, '--import', 'tsx', path.join(DRIVERS, 'clusterHost.ts')], { cwd: REPO_ROOT });
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (t: string) => (stderr = (stderr + t).slice(-20_000)));
  const pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
  let next = 0;
  let gone: string | undefined;
  const tail = () => (stderr.trim() ? `; the driver's stderr ends:\n${stderr.trim().split('\n').slice(-30).join('\n')}` : '');
  readline.createInterface({ input: child.stdout! }).on('line', (line) => {
    let msg: { id: number; value?: unknown; error?: { name: string; message: string } };
    try {
      msg = JSON.parse(line) as typeof msg;
    } catch {
      stderr += `[stdout] ${line}\n`;
      return;
    }
    const p = pending.get(msg.id);
    if (!p) return;
    pending.delete(msg.id);
    if (msg.error) p.reject(new DrivenError(msg.error.name, msg.error.message));
    else p.resolve(msg.value);
  });
  const exited = new Promise<void>((resolve) =>
    child.on('close', (code, signal) => {
      gone = `the cluster driver on ${host} exited (${signal ?? `code ${code}`})`;
      for (const p of pending.values()) p.reject(new Error(`${gone}${tail()}`));
      pending.clear();
      resolve();
    }),
  );
  child.stdin!.on('error', () => {});

  const send = <T>(req: Record<string, unknown>, timeoutMs = CALL_TIMEOUT_MS): Promise<T> => {
    if (gone) return Promise.reject(new Error(`${gone}${tail()}`));
    const id = ++next;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        pending.delete(id);
        reject(new Error(`the cluster driver on ${host} did not answer ${JSON.stringify(req).slice(0, 300)} within ${timeoutMs / 1000} s${tail()}`));
      }, timeoutMs);
      pending.set(id, {
        resolve: (v) => {
          clearTimeout(timer);
          resolve(v as T);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      child.stdin!.write(`${JSON.stringify({ id, ...req })}\n`);
    });
  };

  return {
    pid: child.pid ?? -1,
    start: (cluster, env) => send({ op: 'start', cluster, env }),
    cluster: (method, ...args) => send({ op: 'cluster', method, args }),
    client: (method, ...args) => send({ op: 'client', method, args }),
    view: (targets, method, ...args) => send({ op: 'view', targets, method, args }),
    async stop() {
      if (!gone) {
        await send({ op: 'stop' }).catch((e: Error) => {
          if (!gone) throw e;
        });
      }
      await exited;
    },
    stderr: () => stderr,
  };
}
