/**
 * The command line's cluster flags (-n, --engine, --launcher and each launcher's own flags) turned
 * into a profile's cluster settings, over what the profile's cluster.json already says: a flag wins
 * over the file, and a flag of another launcher than the one in use is an error naming both.
 */
import os from 'node:os';
import path from 'node:path';
import { SettingsError, type ClusterSettings } from '../cluster/profileSettings.js';
import { isLanguageName, languageNames } from '../kernels/index.js';
import { parseDb, parseHwm, parseScheme } from '../controller/options.js';
import { isLauncherPath } from '../launch/plugins.js';
import { hostCounts } from '../launch/sshHosts.js';
import type { Json } from '../protocol/messages.js';
import { UsageError } from './usage.js';
import { splitWords } from '../util/words.js';

type LauncherOptions = { [key: string]: Json };

/** parseArgs options of the settings every cluster command takes (start, engines, profile). */
export const ENGINE_SET_FLAGS = {
  n: { type: 'string', short: 'n' },
  engine: { type: 'string' },
  python: { type: 'string' },
  launcher: { type: 'string' },
  'engine-timeout-ms': { type: 'string' },
  'ssh-hosts': { type: 'string' },
  'ssh-command': { type: 'string' },
  'slurm-partition': { type: 'string' },
  'slurm-time': { type: 'string' },
  'slurm-account': { type: 'string' },
  'mpi-args': { type: 'string' },
  'launcher-option': { type: 'string', multiple: true },
} as const;

/** Where the controller listens and how it balances tasks: for start and profile only (a running controller keeps them). */
export const CONTROLLER_FLAGS = {
  ip: { type: 'string' },
  location: { type: 'string' },
  scheme: { type: 'string' },
  hwm: { type: 'string' },
  db: { type: 'string' },
} as const;

/** Flags whose values often start with a dash (mpiexec's and ssh's own options). */
const DASH_VALUE_FLAGS = new Set(['--mpi-args', '--ssh-command', '--launcher-option']);

/**
 * `args` with `--mpi-args -x A` written as `--mpi-args=-x A`: parseArgs would take a value that
 * starts with a dash for a flag of ours and refuse it as ambiguous.
 */
export function joinDashValues(args: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--') return [...out, ...args.slice(i)];
    if (DASH_VALUE_FLAGS.has(args[i]) && i + 1 < args.length) out.push(`${args[i]}=${args[++i]}`);
    else out.push(args[i]);
  }
  return out;
}

export type FlagValues = { readonly [flag: string]: string | boolean | string[] | undefined };

/** A flag that belongs to one launcher, and the launcher options it sets. */
interface LauncherFlag {
  launcher: string;
  options(value: string, flag: string): LauncherOptions;
}

const LAUNCHER_FLAGS: Readonly<Record<string, LauncherFlag>> = {
  'ssh-hosts': { launcher: 'ssh', options: (v, flag) => ({ hosts: parseHosts(v, flag) }) },
  'ssh-command': {
    launcher: 'ssh',
    options: (v, flag) => {
      const [ssh, ...sshArgs] = words(v, flag);
      // sshArgs always set, so the flag replaces the file's whole command rather than half of it.
      return { ssh, sshArgs };
    },
  },
  'slurm-partition': { launcher: 'slurm', options: (v, flag) => ({ partition: nonEmpty(v, flag) }) },
  'slurm-time': { launcher: 'slurm', options: (v, flag) => ({ time: nonEmpty(v, flag) }) },
  'slurm-account': { launcher: 'slurm', options: (v, flag) => ({ account: nonEmpty(v, flag) }) },
  'mpi-args': { launcher: 'mpi', options: (v, flag) => ({ args: words(v, flag) }) },
};

/** Which launcher's flags these are, for the usage text. */
export function launcherFlagsOf(launcher: string): string[] {
  return Object.keys(LAUNCHER_FLAGS).filter((f) => LAUNCHER_FLAGS[f].launcher === launcher);
}

/**
 * The settings of `file` (the profile's cluster.json, read from `fileName`) with the flags in
 * `values` over them. Throws UsageError for a bad flag, SettingsError for a bad value in the file.
 */
export function resolveSettings(file: ClusterSettings, fileName: string, values: FlagValues): ClusterSettings {
  const flagLauncher = str(values, 'launcher');
  if (flagLauncher === '') throw new UsageError('--launcher needs a launcher name (local, mpi, ssh, slurm, batch) or a module path');
  const launcher = flagLauncher ?? file.launcher ?? 'local';
  const whose = flagLauncher !== undefined ? `--launcher ${flagLauncher}` : file.launcher !== undefined ? `the launcher ${file.launcher} of ${fileName}` : 'the local launcher (the default)';

  const fromFlags: LauncherOptions = {};
  const setBy = new Map<string, string>();
  const put = (options: LauncherOptions, flag: string) => {
    for (const [key, value] of Object.entries(options)) {
      const other = setBy.get(key);
      if (other) throw new UsageError(`${other} and ${flag} both set the launcher option ${key}: give one`);
      setBy.set(key, flag);
      fromFlags[key] = value;
    }
  };
  for (const [name, spec] of Object.entries(LAUNCHER_FLAGS)) {
    const v = str(values, name);
    if (v === undefined) continue;
    if (spec.launcher !== launcher) {
      const hint = flagLauncher === undefined ? `; add --launcher ${spec.launcher}` : '';
      throw new UsageError(`--${name} is an option of the ${spec.launcher} launcher, but this cluster uses ${whose}${hint}`);
    }
    put(spec.options(v, `--${name}`), `--${name}`);
  }
  for (const pair of (values['launcher-option'] as string[] | undefined) ?? []) put(launcherOption(pair), `--launcher-option ${pair}`);
  if (launcher === 'local' && Object.keys(fromFlags).length) {
    throw new UsageError(`--launcher-option: the local launcher takes no options (name another with --launcher)`);
  }

  const out: ClusterSettings = { ...file };
  if (flagLauncher !== undefined) out.launcher = isLauncherPath(flagLauncher) ? path.resolve(flagLauncher) : flagLauncher;
  // The file's options belong to the file's launcher: another launcher starts from none.
  const base = flagLauncher === undefined || flagLauncher === file.launcher ? (file.launcherOptions ?? {}) : {};
  const launcherOptions = { ...base, ...fromFlags };
  if (Object.keys(launcherOptions).length) out.launcherOptions = launcherOptions;
  else delete out.launcherOptions;

  const n = str(values, 'n');
  if (n !== undefined) out.n = count(n);
  // Hosts given here count the engines, rather than the file's n (engineCount sums them).
  else if (str(values, 'ssh-hosts') !== undefined) delete out.n;
  const engine = str(values, 'engine');
  if (engine !== undefined) out.engine = language(engine, '--engine');
  else if (file.engine !== undefined && !isLanguageName(file.engine)) {
    throw new SettingsError(`${fileName}: engine must be one of ${languageNames.join(', ')}, got ${JSON.stringify(file.engine)}`);
  }
  for (const [flag, key] of [['python', 'python'], ['ip', 'ip'], ['location', 'location']] as const) {
    const v = str(values, flag);
    if (v !== undefined) out[key] = nonEmpty(v, `--${flag}`);
  }
  const scheme = str(values, 'scheme');
  if (scheme !== undefined) out.scheme = asUsage(() => parseScheme(scheme));
  const hwm = str(values, 'hwm');
  if (hwm !== undefined) out.hwm = asUsage(() => parseHwm(hwm));
  const db = str(values, 'db');
  if (db !== undefined) out.db = asUsage(() => parseDb(db));
  const timeout = str(values, 'engine-timeout-ms');
  if (timeout !== undefined) out.engineTimeoutMs = milliseconds(timeout, '--engine-timeout-ms');
  return out;
}

/** How many engines the settings start: n, else the sum of an ssh host list, else one per CPU core. */
export function engineCount(settings: ClusterSettings): number {
  if (settings.n !== undefined) return settings.n;
  const hosts = settings.launcherOptions?.hosts;
  if (settings.launcher === 'ssh' && typeof hosts === 'object' && hosts !== null && !Array.isArray(hosts)) {
    const counts = Object.values(hosts);
    if (counts.length && counts.every((c) => Number.isSafeInteger(c))) return (counts as number[]).reduce((a, b) => a + b, 0);
  }
  return os.availableParallelism();
}

/** `-n` as a whole number (0 is allowed: a controller with no engines). */
export function count(v: string): number {
  const n = Number(v);
  if (v.trim() === '' || !Number.isInteger(n) || n < 0) throw new UsageError(`-n must be a whole number, got ${JSON.stringify(v)}`);
  return n;
}

export function language(v: string, flag: string): string {
  if (isLanguageName(v)) return v;
  throw new UsageError(`${flag} must be one of ${languageNames.join(', ')}; got ${JSON.stringify(v)}`);
}

/** `--ssh-hosts hostb:2,hostc:2` (a host without a count runs one engine) → { hostb: 2, hostc: 2 }. */
export function parseHosts(v: string, flag = '--ssh-hosts'): { [host: string]: number } {
  try {
    return hostCounts(v);
  } catch (e) {
    throw new UsageError(`${flag}: ${(e as Error).message}`);
  }
}

/** `--launcher-option key=value`: the value as JSON when it parses (2, true, ["a"]), else as a string. */
export function launcherOption(pair: string): LauncherOptions {
  const eq = pair.indexOf('=');
  if (eq <= 0) throw new UsageError(`--launcher-option takes key=value, got ${JSON.stringify(pair)}`);
  const key = pair.slice(0, eq).trim();
  const text = pair.slice(eq + 1);
  let value: Json;
  try {
    value = JSON.parse(text) as Json;
  } catch {
    value = text;
  }
  return { [key]: value };
}

/** The controller's own check of its flag, its error reported as this command's. */
function asUsage<T>(check: () => T): T {
  try {
    return check();
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

function str(values: FlagValues, name: string): string | undefined {
  const v = values[name];
  return typeof v === 'string' ? v : undefined;
}

function nonEmpty(v: string, flag: string): string {
  if (v.trim() === '') throw new UsageError(`${flag} needs a value`);
  return v;
}

function words(v: string, flag: string): string[] {
  let list: string[];
  try {
    list = splitWords(v, flag);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  if (!list.length) throw new UsageError(`${flag} needs a value`);
  return list;
}

function milliseconds(v: string, flag: string): number {
  const n = Number(v);
  if (!/^\d+$/.test(v.trim()) || !Number.isSafeInteger(n) || n < 1) throw new UsageError(`${flag} must be a whole number of milliseconds ≥ 1, got ${JSON.stringify(v)}`);
  return n;
}
