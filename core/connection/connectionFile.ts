/**
 * Connection files: how controllers, engines and clients find each other.
 * Written 0600 into $MULTIENGINE_DIR/profile_<name>/security/, as ipyparallel does.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface ConnectionInfo {
  transport: 'tcp';
  ip: string;
  port: number;
  key: string;
  signature_scheme: 'hmac-sha256';
  controller_pid: number;
  profile: string;
  /** Engines use this to pick their heartbeat period; clients ignore it. */
  heartbeat_ms: number;
}

export type ConnectionRole = 'client' | 'engine';

export function multiengineDir(dir?: string): string {
  return dir ?? process.env.MULTIENGINE_DIR ?? path.join(os.homedir(), '.multiengine');
}

export function profileDir(profile = 'default', dir?: string): string {
  if (!/^[\w.-]+$/.test(profile)) throw new Error(`bad profile name ${JSON.stringify(profile)}: use letters, digits, '.', '_' and '-'`);
  return path.join(multiengineDir(dir), `profile_${profile}`);
}

export function connectionFilePath(role: ConnectionRole, profile = 'default', dir?: string): string {
  return path.join(profileDir(profile, dir), 'security', `multiengine-${role}.json`);
}

export function writeConnectionFile(file: string, info: ConnectionInfo): void {
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify(info, null, 2) + '\n', { mode: 0o600 });
  fs.chmodSync(tmp, 0o600);
  fs.renameSync(tmp, file);
}

export class ConnectionFileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConnectionFileError';
  }
}

/** Reads and validates a connection file; every problem is named with the file's path. */
export function readConnectionFile(file: string, opts: { allowInsecure?: boolean } = {}): ConnectionInfo {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new ConnectionFileError(`no connection file at ${file} (is a cluster running? start one with: multiengine start)`);
    throw new ConnectionFileError(`cannot read connection file ${file}: ${(e as Error).message}`);
  }
  if (!opts.allowInsecure && process.platform !== 'win32') {
    const mode = fs.statSync(file).mode & 0o077;
    if (mode !== 0) {
      throw new ConnectionFileError(`connection file ${file} can be read by other users (mode ${(fs.statSync(file).mode & 0o777).toString(8)}); run chmod 600 on it, or pass allowInsecure`);
    }
  }
  return parseConnectionInfo(text, `connection file ${file}`);
}

/**
 * Connection information from text (a file's, MULTIENGINE_CONNECTION's, or an engine's first stdin
 * line, as launchers pass it); `source` names where it came from in errors.
 */
export function parseConnectionInfo(text: string, source: string): ConnectionInfo {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new ConnectionFileError(`${source} is not valid JSON: ${(e as Error).message}`);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new ConnectionFileError(`${source} is invalid: not a JSON object`);
  const r = raw as Partial<ConnectionInfo>;
  const problems: string[] = [];
  if (r.transport !== 'tcp') problems.push(`transport must be "tcp"`);
  if (typeof r.ip !== 'string' || !r.ip) problems.push('ip must be a string');
  if (typeof r.port !== 'number' || !Number.isInteger(r.port) || r.port <= 0 || r.port > 65535) problems.push('port must be an integer from 1 to 65535');
  if (typeof r.key !== 'string') problems.push('key must be a string');
  if (r.signature_scheme !== 'hmac-sha256') problems.push('signature_scheme must be "hmac-sha256"');
  if (problems.length) throw new ConnectionFileError(`${source} is invalid: ${problems.join('; ')}`);
  return {
    transport: 'tcp',
    ip: r.ip!,
    port: r.port!,
    key: r.key!,
    signature_scheme: 'hmac-sha256',
    controller_pid: typeof r.controller_pid === 'number' ? r.controller_pid : 0,
    profile: typeof r.profile === 'string' ? r.profile : 'default',
    heartbeat_ms: typeof r.heartbeat_ms === 'number' && r.heartbeat_ms > 0 ? r.heartbeat_ms : 1000,
  };
}
