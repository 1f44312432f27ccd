/**
 * Where the controller listens and how peers find it: its key (new, or the previous
 * controller's with --reuse-key), the port, and the client and engine connection files.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import type net from 'node:net';
import os from 'node:os';
import { connectionFilePath, readConnectionFile, writeConnectionFile, type ConnectionInfo } from '../connection/connectionFile.js';
import { log } from './log.js';
import type { ControllerOptions } from './options.js';

export interface Endpoint {
  key: string;
  /** The port taken from an existing connection file (--reuse-key without --port), 0 otherwise. */
  reusedPort: number;
}

/** A fresh key, or the one (and port) of the profile's existing connection file for a restarted controller. */
export function chooseKey(opts: ControllerOptions): Endpoint {
  const key = randomBytes(32).toString('hex');
  if (!opts.reuseKey) return { key, reusedPort: 0 };
  // A restarted controller: engines and clients of the one before keep their connection files.
  const file = connectionFilePath('client', opts.profile, opts.dir);
  try {
    const old = readConnectionFile(file);
    log.info(`reusing the key${opts.port ? '' : ` and port ${old.port}`} of ${file}`);
    return { key: old.key, reusedPort: old.port };
  } catch (e) {
    log.warn(`--reuse-key: ${(e as Error).message}; using a new key`);
    return { key, reusedPort: 0 };
  }
}

/**
 * Connections the kernel may hold before we accept them. Node's default (511) overflows when
 * 1,000 engines start at once (`srun -n 1000`: 2,000 connections): the kernel drops the SYNs past
 * it and each of those engines waits a 1 s retransmission. Capped by net.core.somaxconn (4096
 * on current kernels), so a storm is queued, not dropped.
 */
const LISTEN_BACKLOG = 4096;

/** Listens on --port, or on the reused port (falling back to a free one); resolves with the port. */
export async function listen(server: net.Server, opts: ControllerOptions, reusedPort: number): Promise<number> {
  const on = (port: number) =>
    new Promise<void>((resolve, reject) => {
      const onError = (e: NodeJS.ErrnoException) => reject(new Error(`cannot listen on ${opts.ip}:${port}: ${e.code ?? e.message}`));
      server.once('error', onError);
      server.listen({ host: opts.ip, port, exclusive: true, backlog: LISTEN_BACKLOG }, () => {
        server.off('error', onError);
        resolve();
      });
    });
  if (!opts.port && reusedPort) {
    try {
      await on(reusedPort);
    } catch (e) {
      log.warn(`${(e as Error).message}; listening on a free port instead (peers of the previous controller cannot come back)`);
      await on(0);
    }
  } else {
    await on(opts.port);
  }
  return (server.address() as net.AddressInfo).port;
}

/** What peers need to reach this controller: the connection files' content (launchers pass it to engines too). */
export function connectionInfo(opts: ControllerOptions, port: number, key: string): ConnectionInfo {
  return {
    transport: 'tcp',
    ip: advertisedAddress(opts),
    port,
    key,
    signature_scheme: 'hmac-sha256',
    controller_pid: process.pid,
    profile: opts.profile,
    heartbeat_ms: opts.heartbeatMs,
  };
}

/** Writes the client and engine connection files (0600). */
export function writeFiles(opts: ControllerOptions, port: number, key: string): { clientFile: string; engineFile: string } {
  const info = connectionInfo(opts, port, key);
  const clientFile = connectionFilePath('client', opts.profile, opts.dir);
  const engineFile = connectionFilePath('engine', opts.profile, opts.dir);
  writeConnectionFile(clientFile, info);
  writeConnectionFile(engineFile, info);
  return { clientFile, engineFile };
}

/** Deletes connection files that are still ours (a newer controller may have replaced them). */
export function removeFiles(files: readonly string[], key: string): void {
  for (const f of files) {
    try {
      const info = JSON.parse(fs.readFileSync(f, 'utf8')) as Partial<ConnectionInfo>;
      if (info.key === key) fs.unlinkSync(f);
    } catch {
      /* gone or not ours */
    }
  }
}

/** The address written into connection files: --location, else --ip (a wildcard one replaced by a concrete address). */
export function advertisedAddress(opts: Pick<ControllerOptions, 'ip' | 'location'>): string {
  return opts.location ?? connectIp(opts.ip);
}

/** Only this machine can connect: a loopback address (127.x, ::1, localhost). */
export function isLoopback(ip: string): boolean {
  return ip === 'localhost' || ip === '::1' || /^127\./.test(ip);
}

/** The address peers should dial: a wildcard bind is advertised by a concrete address. */
function connectIp(ip: string): string {
  if (ip !== '0.0.0.0' && ip !== '::') return ip;
  for (const list of Object.values(os.networkInterfaces())) {
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return '127.0.0.1';
}
