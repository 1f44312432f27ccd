/**
 * A profile's cluster settings: `$MULTIENGINE_DIR/profile_<name>/cluster.json` holds how its
 * cluster is started (engines, launcher and the launcher's options, where the controller listens),
 * so `multiengine start --profile hpc` needs no flags and the app's "new cluster" form has
 * somewhere to save. Flags given on a command line win over the file.
 */
import fs from 'node:fs';
import path from 'node:path';
import { profileDir } from '../connection/connectionFile.js';
import { SCHEMES, type Json, type Scheme } from '../protocol/messages.js';

export interface ClusterSettings {
  /** Engines to start. */
  n?: number;
  /** 'node' or 'python'. */
  engine?: string;
  /** The Python interpreter of python engines. */
  python?: string;
  /** 'local', 'mpi', 'ssh', 'slurm', 'batch' or a launcher module's path. */
  launcher?: string;
  /** The launcher's options (docs/launchers.md). */
  launcherOptions?: { [key: string]: Json };
  /** Where the controller listens, and the address written into connection files. */
  ip?: string;
  location?: string;
  /** How long the engines may take to register. */
  engineTimeoutMs?: number;
  /** How the controller's scheduler picks an engine for a load-balanced task. */
  scheme?: Scheme;
  /** Load-balanced tasks outstanding per engine at most (0: no limit). */
  hwm?: number;
  /** Where the controller keeps task records: 'sqlite' (the profile's tasks.db), 'memory' or 'none'. */
  db?: 'sqlite' | 'memory' | 'none';
}

const FIELDS: Record<keyof ClusterSettings, (v: unknown) => string | null> = {
  n: (v) => (Number.isSafeInteger(v) && (v as number) >= 0 ? null : 'a whole number of engines'),
  engine: (v) => (typeof v === 'string' && v !== '' ? null : "an engine language ('node' or 'python')"),
  python: (v) => (typeof v === 'string' && v !== '' ? null : 'the path or name of a Python interpreter'),
  launcher: (v) => (typeof v === 'string' && v !== '' ? null : "a launcher name ('local', 'mpi', 'ssh', 'slurm', 'batch') or a module path"),
  launcherOptions: (v) => (typeof v === 'object' && v !== null && !Array.isArray(v) ? null : 'an object of launcher options'),
  ip: (v) => (typeof v === 'string' && v !== '' ? null : 'an address'),
  location: (v) => (typeof v === 'string' && v !== '' ? null : 'an address or host name'),
  engineTimeoutMs: (v) => (Number.isSafeInteger(v) && (v as number) > 0 ? null : 'a whole number of milliseconds'),
  scheme: (v) => ((SCHEMES as readonly unknown[]).includes(v) ? null : `one of ${SCHEMES.join(', ')}`),
  db: (v) => (v === 'sqlite' || v === 'memory' || v === 'none' ? null : "'sqlite', 'memory' or 'none'"),
  hwm: (v) => (Number.isSafeInteger(v) && (v as number) >= 0 ? null : 'a whole number of tasks per engine (0: no limit)'),
};

export class SettingsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SettingsError';
  }
}

export function clusterSettingsPath(profile = 'default', dir?: string): string {
  return path.join(profileDir(profile, dir), 'cluster.json');
}

/** Checks settings (from a file or a form); throws SettingsError naming each bad field and `source`. */
export function checkClusterSettings(raw: unknown, source: string): ClusterSettings {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new SettingsError(`${source} must hold a JSON object of cluster settings`);
  const problems: string[] = [];
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(raw)) {
    const check = Object.prototype.hasOwnProperty.call(FIELDS, key) ? FIELDS[key as keyof ClusterSettings] : undefined;
    if (!check) problems.push(`unknown setting ${JSON.stringify(key)} (the settings are ${Object.keys(FIELDS).join(', ')})`);
    else if (value !== undefined && value !== null) {
      const want = check(value);
      if (want) problems.push(`${key} must be ${want}, got ${JSON.stringify(value)}`);
      else out[key] = value;
    }
  }
  if (problems.length) throw new SettingsError(`${source}: ${problems.join('; ')}`);
  return out as ClusterSettings;
}

/** The profile's settings, or {} when it has no cluster.json; a bad file throws SettingsError naming it. */
export function readClusterSettings(profile = 'default', dir?: string): ClusterSettings {
  const file = clusterSettingsPath(profile, dir);
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw new SettingsError(`cannot read ${file}: ${(e as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new SettingsError(`${file} is not valid JSON: ${(e as Error).message}`);
  }
  return checkClusterSettings(raw, file);
}

/** Saves settings (checked first) as the profile's cluster.json, written whole (no half-written file). */
export function writeClusterSettings(settings: ClusterSettings, profile = 'default', dir?: string): string {
  const file = clusterSettingsPath(profile, dir);
  const checked = checkClusterSettings(settings, 'cluster settings');
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify(checked, null, 2) + '\n', { mode: 0o600 });
  fs.renameSync(tmp, file);
  return file;
}
