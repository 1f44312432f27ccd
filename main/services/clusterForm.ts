/**
 * The new-cluster form and a profile's cluster.json (core/cluster/profileSettings.ts): the
 * form's text fields checked in the user's words and turned into launcher options, the file
 * turned back into the form, and the start plan a cluster.json makes. Pure, except read/save.
 */
import { clusterSettingsPath, readClusterSettings, SettingsError, writeClusterSettings, type ClusterSettings } from '../../core/cluster/profileSettings.js';
import type { EngineSetOptions } from '../../core/client/client.js';
import { hostCounts, hostEntries } from '../../core/launch/sshHosts.js';
import type { Json, Scheme } from '../../core/protocol/messages.js';
import { splitWords as shellWords } from '../../core/util/words.js';
import { FORM_LAUNCHERS, type ClusterForm, type ClusterFormState, type FormLauncher, type KernelKind } from '../../preload/contract.js';
import type { EngineGroup } from './engineTable.js';
import { UserError, type UserField } from './userError.js';

/** How a cluster is brought up: engines (of each language) through one launcher, and where the controller listens. */
export interface ClusterPlan {
  groups: EngineGroup[];
  /** 'local' or a launcher's name or module path. */
  launcher: string;
  launcherOptions?: { [key: string]: Json };
  python?: string;
  engineTimeoutMs?: number;
  ip?: string;
  location?: string;
  scheme?: Scheme;
  hwm?: number;
  db?: ClusterSettings['db'];
}

type Options = { [key: string]: Json };

/** The form's bound on one host's engines (a typo such as hostb:200000 is caught here, not by ssh). */
const MAX_ENGINES_PER_HOST = 1024;

/** The launcher options each form launcher fills in (the rest of a hand-written cluster.json is kept). */
const FORM_OPTIONS: Record<FormLauncher, readonly string[]> = { local: [], mpi: ['args'], ssh: ['hosts', 'ssh', 'sshArgs'], slurm: ['partition', 'time', 'account'] };

/** Words of a command line (core/util/words.ts), with a quote left open named under the form's field. */
export function splitWords(text: string, field: UserField, subject: string): string[] {
  try {
    return shellWords(text, subject);
  } catch (e) {
    throw new UserError((e as Error).message, field);
  }
}

/** The inverse of splitWords, for showing a list of arguments in a text field. */
export function joinWords(words: readonly string[]): string {
  return words.map((w) => (w !== '' && /^[\w@%+=:,./-]+$/.test(w) ? w : `'${w.replace(/'/g, `'\\''`)}'`)).join(' ');
}

/** "hostb:2, hostc:2" (a host alone means one engine) → { hostb: 2, hostc: 2 }: the launcher's own reading (core/launch/sshHosts.ts). */
export function parseHosts(text: string): Record<string, number> {
  if (text.trim() === '') throw new UserError('Give the hosts to start engines on, as hostb:2,hostc:2', 'sshHosts');
  let hosts: Record<string, number>;
  try {
    hosts = hostCounts(text);
  } catch (e) {
    throw new UserError(`Hosts: ${(e as Error).message}`, 'sshHosts');
  }
  for (const [host, n] of Object.entries(hosts)) if (n > MAX_ENGINES_PER_HOST) throw new UserError(`${host}:${n}: a host takes at most ${MAX_ENGINES_PER_HOST} engines here`, 'sshHosts');
  return hosts;
}

/** sbatch's time limits: minutes, MM:SS, HH:MM:SS, D-HH, D-HH:MM, D-HH:MM:SS, or UNLIMITED. */
const SLURM_TIME = /^(?:\d+(?::\d{1,2}){0,2}|\d+-\d{1,2}(?::\d{1,2}){0,2}|unlimited|infinite)$/i;
/** Partitions (a comma list) and accounts: SLURM names, no blanks. */
const SLURM_NAME = /^[A-Za-z0-9_.-]+(?:,[A-Za-z0-9_.-]+)*$/;

/** The launcher options the form's fields give (checked: a bad field is a UserError about that field). */
export function launcherOptionsOf(form: ClusterForm): Options {
  const o: Options = {};
  if (form.launcher === 'mpi') {
    const args = splitWords(form.mpiArgs, 'mpiArgs', 'The mpiexec arguments');
    if (args.length) o.args = args;
  } else if (form.launcher === 'ssh') {
    const hosts = parseHosts(form.sshHosts);
    const total = Object.values(hosts).reduce((a, b) => a + b, 0);
    if (total !== form.n) throw new UserError(`The hosts add up to ${total} engine${total === 1 ? '' : 's'}, but ${form.n} ${form.n === 1 ? 'is' : 'are'} asked for: make them agree`, 'sshHosts');
    o.hosts = hosts;
    const [ssh, ...sshArgs] = splitWords(form.sshCommand, 'sshCommand', 'The ssh command');
    if (ssh) o.ssh = ssh;
    if (sshArgs.length) o.sshArgs = sshArgs;
  } else if (form.launcher === 'slurm') {
    const fields = [
      ['partition', form.slurmPartition, 'slurmPartition', SLURM_NAME, 'The partition must be a SLURM partition name (letters, digits, _ . -; several with commas)'],
      ['time', form.slurmTime, 'slurmTime', SLURM_TIME, 'The time limit must be as sbatch takes it: minutes (30), H:MM:SS (1:00:00) or D-HH:MM:SS (1-12:00:00)'],
      ['account', form.slurmAccount, 'slurmAccount', SLURM_NAME, 'The account must be a SLURM account name (letters, digits, _ . -)'],
    ] as const;
    for (const [key, raw, field, pattern, problem] of fields) {
      const v = raw.trim();
      if (v === '') continue;
      if (!pattern.test(v)) throw new UserError(`${problem}; got "${v}"`, field);
      o[key] = v;
    }
  }
  return o;
}

/** The cluster.json the form makes, keeping what the previous file held that the form does not show. */
export function settingsFromForm(form: ClusterForm, previous: ClusterSettings): ClusterSettings {
  const { n: _n, engine: _e, launcher: prevLauncher, launcherOptions: prevOptions, ...kept } = previous;
  const options: Options = {};
  if (prevLauncher === form.launcher && prevOptions) {
    for (const [k, v] of Object.entries(prevOptions)) if (!FORM_OPTIONS[form.launcher].includes(k)) options[k] = v;
  }
  Object.assign(options, launcherOptionsOf(form));
  const out: ClusterSettings = { ...kept, n: form.n, engine: form.kind, launcher: form.launcher };
  if (Object.keys(options).length) out.launcherOptions = options;
  return out;
}

function text(v: Json | undefined): string {
  if (v === undefined || v === null) return '';
  if (Array.isArray(v)) return joinWords(v.map(String));
  return String(v);
}

function hostsText(v: Json | undefined): string {
  if (v && typeof v === 'object' && !Array.isArray(v)) return Object.entries(v).map(([h, n]) => `${h}:${String(n)}`).join(',');
  return text(v);
}

/** The form a profile's settings fill in; `base` gives what the file does not say. */
export function formFromSettings(s: ClusterSettings, base: { profile: string; n: number; kind: KernelKind }): { form: ClusterForm; note: string | null } {
  const launcher = (FORM_LAUNCHERS as readonly string[]).includes(s.launcher ?? 'local') ? ((s.launcher ?? 'local') as FormLauncher) : 'local';
  const o = launcher === s.launcher ? (s.launcherOptions ?? {}) : {};
  const form: ClusterForm = {
    profile: base.profile,
    n: s.n && s.n > 0 ? s.n : Math.max(1, base.n),
    kind: s.engine ?? base.kind,
    launcher,
    mpiArgs: launcher === 'mpi' ? text(o.args) : '',
    sshHosts: launcher === 'ssh' ? hostsText(o.hosts) : '',
    sshCommand: launcher === 'ssh' ? [text(o.ssh), text(o.sshArgs)].filter(Boolean).join(' ') : '',
    slurmPartition: launcher === 'slurm' ? text(o.partition) : '',
    slurmTime: launcher === 'slurm' ? text(o.time) : '',
    slurmAccount: launcher === 'slurm' ? text(o.account) : '',
  };
  const notes: string[] = [];
  if (s.launcher && launcher !== s.launcher) notes.push(`launcher ${s.launcher} (the form can replace it with one of ${FORM_LAUNCHERS.join(', ')})`);
  const extra = Object.keys(o).filter((k) => !FORM_OPTIONS[launcher].includes(k));
  if (extra.length) notes.push(`${launcher} options ${extra.join(', ')}`);
  for (const k of ['python', 'ip', 'location', 'engineTimeoutMs'] as const) if (s[k] !== undefined) notes.push(`${k} ${String(s[k])}`);
  return { form, note: notes.length ? `cluster.json also sets ${notes.join('; ')}: kept as is` : null };
}

/** The plan a profile's settings make; `base` gives the engines when the file does not (or when `n`/`kind` were chosen explicitly). */
export function planOf(s: ClusterSettings, base: EngineGroup): ClusterPlan {
  const plan: ClusterPlan = { groups: [base], launcher: s.launcher ?? 'local' };
  if (s.launcherOptions && plan.launcher !== 'local') plan.launcherOptions = s.launcherOptions;
  if (s.python !== undefined) plan.python = s.python;
  if (s.engineTimeoutMs !== undefined) plan.engineTimeoutMs = s.engineTimeoutMs;
  if (s.ip !== undefined) plan.ip = s.ip;
  if (s.location !== undefined) plan.location = s.location;
  if (s.scheme !== undefined) plan.scheme = s.scheme;
  if (s.hwm !== undefined) plan.hwm = s.hwm;
  if (s.db !== undefined) plan.db = s.db;
  return plan;
}

/** A profile's cluster.json, or {}; a bad file is a UserError naming it (about the profile field). */
export function readProfileSettings(profile: string, dir?: string): ClusterSettings {
  try {
    return readClusterSettings(profile, dir);
  } catch (e) {
    if (e instanceof SettingsError) throw new UserError(e.message, 'profile');
    throw e;
  }
}

/** The form a profile's cluster.json fills in (a bad file: its error names it). */
export function readForm(profile: string, base: { n: number; kind: KernelKind }, dir?: string): ClusterFormState {
  const file = clusterSettingsPath(profile, dir);
  const s = readProfileSettings(profile, dir);
  const { form, note } = formFromSettings(s, { profile, ...base });
  return { form, file, exists: Object.keys(s).length > 0, note };
}

/** Checks the form and saves it as the profile's cluster.json; returns the settings written. A bad previous file is replaced. */
export function saveForm(form: ClusterForm, dir?: string): ClusterSettings {
  let previous: ClusterSettings = {};
  try {
    previous = readClusterSettings(form.profile, dir);
  } catch {
    /* unreadable or invalid: the form replaces it */
  }
  const settings = settingsFromForm(form, previous);
  try {
    writeClusterSettings(settings, form.profile, dir);
  } catch (e) {
    throw new UserError(`cannot save the settings of profile "${form.profile}": ${(e as Error).message}`, e instanceof SettingsError ? undefined : 'profile');
  }
  return settings;
}

/**
 * How `n` more engines join a cluster started with `plan`: through the same launcher and options
 * (an mpi cluster grows by another mpiexec job, a slurm one by another job). ssh hosts are named
 * without their counts, the first `n` of them sharing the new engines.
 */
export function growOptions(plan: ClusterPlan, n: number): EngineSetOptions {
  if (plan.launcher === 'local') return {};
  const launcherOptions: Options = { ...plan.launcherOptions };
  const hosts = launcherOptions.hosts;
  if (plan.launcher === 'ssh' && hosts !== undefined && hosts !== null) {
    const names = hostEntries(hosts).map(([host]) => host);
    launcherOptions.hosts = names.slice(0, Math.max(1, n)).join(',');
  }
  const opts: EngineSetOptions = { launcher: plan.launcher, launcherOptions };
  if (plan.python !== undefined) opts.python = plan.python;
  if (plan.engineTimeoutMs !== undefined) opts.timeoutMs = plan.engineTimeoutMs;
  return opts;
}
