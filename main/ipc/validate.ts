/**
 * Payload validation for every request and message from a renderer. Each validator takes
 * `unknown` and returns the typed payload, or throws a PayloadError that says what was wrong
 * in the words the UI uses ("The name …", "The number of engines …") and names the form field
 * (`field`), so the renderer can show it next to that input. `path` keeps the payload's own
 * name of the field (pull.name) for the log. Unknown fields are rejected, so nothing
 * unexpected reaches a service.
 */
import { FORM_LAUNCHERS, type ClusterForm, type FormLauncher, type InvokeName, type InvokeTypes, type KernelKind, type MonitorInvokeTypes, type SendName, type SendTypes } from '../../preload/contract.js';
import { isIdentifier } from '../../core/client/validate.js';
import { isLanguageName, languageNames } from '../../core/kernels/index.js';
import { PROFILE_SECONDS } from '../../core/protocol/probe.js';

/** Payload keys as the user knows them: [form field, how a sentence names it]. */
const USER_WORDS: Record<string, [string | undefined, string]> = {
  n: ['engines', 'the number of engines'],
  kind: ['kind', 'the engine kind'],
  name: ['name', 'the name'],
  source: ['value', 'the value'],
  format: ['value', 'the kind of value'],
  code: ['code', 'the code'],
  profile: ['profile', 'the profile'],
  targets: ['engines', 'the engine selection'],
  ids: ['engines', 'the engine selection'],
  id: [undefined, 'the engine id'],
  text: [undefined, 'the text'],
  url: [undefined, 'the link'],
  launcher: ['launcher', 'the launcher'],
  mpiArgs: ['mpiArgs', 'the mpiexec arguments'],
  sshHosts: ['sshHosts', 'the hosts'],
  sshCommand: ['sshCommand', 'the ssh command'],
  slurmPartition: ['slurmPartition', 'the partition'],
  slurmTime: ['slurmTime', 'the time limit'],
  slurmAccount: ['slurmAccount', 'the account'],
  set: [undefined, 'the engine set'],
  from: [undefined, 'the log source'],
  msgId: [undefined, 'the task id'],
};

function wordsOf(path: string): [string | undefined, string] {
  const key = /([A-Za-z]+)(?:\[\d+\])?$/.exec(path)?.[1] ?? path;
  return path.includes('.') ? (USER_WORDS[key] ?? [undefined, `the ${key}`]) : [undefined, `the request ${path}`];
}

export class PayloadError extends Error {
  /** The form field this is about, as the UI labels it. */
  readonly field?: string;
  /** `problem` completes a sentence about the field: "must be a whole number …". */
  constructor(
    readonly path: string,
    problem: string,
  ) {
    const [field, subject] = wordsOf(path);
    super(`${subject[0].toUpperCase()}${subject.slice(1)} ${problem}`);
    this.name = 'PayloadError'; // for the log; the page shows only the message
    if (field) this.field = field;
  }
}

export const LIMITS = {
  maxTargets: 4096,
  maxEngineId: 1_000_000,
  maxMsgId: 256,
  maxAddEngines: 1024,
  maxName: 256,
  maxCode: 1_000_000,
  maxSource: 10_000_000,
  maxPtyWrite: 1_000_000,
  maxText: 10_000_000,
  maxUrl: 4096,
  maxProfile: 64,
  maxCols: 2000,
  maxRows: 1000,
  maxAck: 100_000_000,
  maxFormText: 4096,
  maxSetId: 128,
} as const;

const PROFILE = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

function show(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? `${v.slice(0, 37)}...` : v);
  if (Array.isArray(v)) return `an array of ${v.length}`;
  if (v === null) return 'null';
  return typeof v === 'object' ? 'an object' : String(v);
}

function record(v: unknown, what: string, keys: readonly string[]): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new PayloadError(what, `is not an object (got ${show(v)})`);
  const proto = Object.getPrototypeOf(v);
  if (proto !== Object.prototype && proto !== null) throw new PayloadError(what, 'is not a plain object');
  for (const k of Object.keys(v)) if (!keys.includes(k)) throw new PayloadError(what, `has an unexpected field ${JSON.stringify(k)}`);
  return v as Record<string, unknown>;
}

function int(v: unknown, what: string, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max) throw new PayloadError(what, `must be a whole number from ${min} to ${max}, got ${show(v)}`);
  return v;
}

function str(v: unknown, what: string, max: number, opts: { nonEmpty?: boolean } = {}): string {
  if (typeof v !== 'string') throw new PayloadError(what, `must be text, got ${show(v)}`);
  if (v.length > max) throw new PayloadError(what, `is longer than ${max} characters`);
  if (opts.nonEmpty && v.trim() === '') throw new PayloadError(what, 'must not be empty');
  return v;
}

function ids(v: unknown, what: string, opts: { nonEmpty?: boolean } = {}): number[] {
  if (!Array.isArray(v)) throw new PayloadError(what, `must be a list of engine ids, got ${show(v)}`);
  if (v.length > LIMITS.maxTargets) throw new PayloadError(what, `names more than ${LIMITS.maxTargets} engines`);
  if (opts.nonEmpty && v.length === 0) throw new PayloadError(what, 'is empty: choose at least one engine');
  const out = v.map((x, i) => int(x, `${what}[${i}]`, 0, LIMITS.maxEngineId));
  if (new Set(out).size !== out.length) throw new PayloadError(what, 'names an engine twice');
  return out;
}

function name(v: unknown, what: string): string {
  const s = str(v, what, LIMITS.maxName);
  if (!isIdentifier(s)) throw new PayloadError(what, `${show(s)} is not a valid name: names are identifiers, like a, x1 or my_value`);
  return s;
}

function kind(v: unknown, what: string): KernelKind {
  if (!isLanguageName(v)) throw new PayloadError(what, `must be one of ${languageNames.map((l) => `"${l}"`).join(', ')}; got ${show(v)}`);
  return v;
}

function profileName(v: unknown, what: string): string {
  const p = str(v, what, LIMITS.maxProfile, { nonEmpty: true });
  if (!PROFILE.test(p)) throw new PayloadError(what, `${show(p)} is not a profile name: use letters, digits, _ . and -`);
  return p;
}

function launcher(v: unknown, what: string): FormLauncher {
  if (!(FORM_LAUNCHERS as readonly unknown[]).includes(v)) throw new PayloadError(what, `must be one of ${FORM_LAUNCHERS.join(', ')}; got ${show(v)}`);
  return v as FormLauncher;
}

const FORM_TEXT = ['mpiArgs', 'sshHosts', 'sshCommand', 'slurmPartition', 'slurmTime', 'slurmAccount'] as const;

function clusterForm(v: unknown): ClusterForm {
  const r = record(v, 'startNewCluster', ['profile', 'n', 'kind', 'launcher', ...FORM_TEXT]);
  const text = Object.fromEntries(FORM_TEXT.map((k) => [k, str(r[k] ?? '', `startNewCluster.${k}`, LIMITS.maxFormText)])) as Record<(typeof FORM_TEXT)[number], string>;
  return {
    profile: profileName(r.profile, 'startNewCluster.profile'),
    n: int(r.n, 'startNewCluster.n', 1, LIMITS.maxAddEngines),
    kind: kind(r.kind, 'startNewCluster.kind'),
    launcher: launcher(r.launcher, 'startNewCluster.launcher'),
    ...text,
  };
}

function setId(v: unknown, what: string): { set: string } {
  return { set: str(record(v, what, ['set']).set, `${what}.set`, LIMITS.maxSetId, { nonEmpty: true }) };
}

function none(v: unknown, what: string): void {
  if (v !== undefined && v !== null) throw new PayloadError(what, 'takes no payload');
}

function targetsOf(v: unknown, what: string, extra: readonly string[] = []): Record<string, unknown> & { targets: number[] } {
  const r = record(v, what, ['targets', ...extra]);
  return { ...r, targets: ids(r.targets ?? [], `${what}.targets`) };
}

type InvokeValidators = { [K in InvokeName]: (v: unknown) => InvokeTypes[K][0] };

// monitor: plots, logs, events
const monitorValidators = {
  getMetricsHistory: (v) => none(v, 'getMetricsHistory'),
  searchLogs: (v) => {
    const r = record(v, 'searchLogs', ['from', 'text']);
    const from = r.from === null || r.from === undefined ? null : str(r.from, 'searchLogs.from', LIMITS.maxName, { nonEmpty: true });
    if (from !== null && !LOG_SOURCE.test(from)) throw new PayloadError('searchLogs.from', `must be "controller" or "engine <id>", got ${show(from)}`);
    return { from, text: str(r.text ?? '', 'searchLogs.text', LIMITS.maxName) };
  },
  listClusterEvents: (v) => none(v, 'listClusterEvents'),
} satisfies { [K in keyof MonitorInvokeTypes]: (v: unknown) => MonitorInvokeTypes[K][0] };
const LOG_SOURCE = /^(?:controller|engine \d{1,7})$/;
// profile: engine stack and CPU profile
const profileValidators: Pick<InvokeValidators, 'engineStack' | 'engineProfile'> = {
  engineStack: (v) => ({ id: int(record(v, 'engineStack', ['id']).id, 'engineStack.id', 0, LIMITS.maxEngineId) }),
  engineProfile: (v) => {
    const r = record(v, 'engineProfile', ['id', 'seconds']);
    const seconds = r.seconds;
    const { min, max } = PROFILE_SECONDS;
    if (typeof seconds !== 'number' || !(seconds >= min && seconds <= max)) throw new PayloadError('engineProfile.seconds', `must be a number of seconds from ${min} to ${max}, got ${show(seconds)}`);
    return { id: int(r.id, 'engineProfile.id', 0, LIMITS.maxEngineId), seconds };
  },
};
// end profile
type SendValidators = { [K in SendName]: (v: unknown) => SendTypes[K] };

export const invokeValidators: InvokeValidators = {
  getAppInfo: (v) => none(v, 'getAppInfo'),
  copyText: (v) => ({ text: str(record(v, 'copyText', ['text']).text, 'copyText.text', LIMITS.maxText) }),
  openExternal: (v) => ({ url: str(record(v, 'openExternal', ['url']).url, 'openExternal.url', LIMITS.maxUrl) }),
  getCluster: (v) => none(v, 'getCluster'),
  startCluster: (v) => {
    const r = record(v, 'startCluster', ['n', 'kind']);
    return { n: int(r.n, 'startCluster.n', 0, LIMITS.maxAddEngines), kind: kind(r.kind, 'startCluster.kind') };
  },
  stopCluster: (v) => none(v, 'stopCluster'),
  restartCluster: (v) => none(v, 'restartCluster'),
  attachCluster: (v) => ({ profile: profileName(record(v, 'attachCluster', ['profile']).profile, 'attachCluster.profile') }),
  addEngines: (v) => {
    const r = record(v, 'addEngines', ['n', 'kind']);
    return { n: int(r.n, 'addEngines.n', 1, LIMITS.maxAddEngines), kind: kind(r.kind, 'addEngines.kind') };
  },
  listEngines: (v) => none(v, 'listEngines'),
  interruptEngines: (v) => ({ ids: ids(record(v, 'interruptEngines', ['ids']).ids, 'interruptEngines.ids', { nonEmpty: true }) }),
  restartEngine: (v) => ({ id: int(record(v, 'restartEngine', ['id']).id, 'restartEngine.id', 0, LIMITS.maxEngineId) }),
  stopEngine: (v) => ({ id: int(record(v, 'stopEngine', ['id']).id, 'stopEngine.id', 0, LIMITS.maxEngineId) }),
  listNamespace: (v) => ({ targets: targetsOf(v, 'listNamespace').targets }),
  pull: (v) => {
    const r = targetsOf(v, 'pull', ['name']);
    return { targets: r.targets, name: name(r.name, 'pull.name') };
  },
  push: (v) => valuePayload(v, 'push'),
  scatter: (v) => valuePayload(v, 'scatter'),
  gather: (v) => {
    const r = targetsOf(v, 'gather', ['name']);
    return { targets: r.targets, name: name(r.name, 'gather.name') };
  },
  execute: (v) => {
    const r = targetsOf(v, 'execute', ['code']);
    return { targets: r.targets, code: str(r.code, 'execute.code', LIMITS.maxCode, { nonEmpty: true }) };
  },
  listTasks: (v) => none(v, 'listTasks'),
  listTaskStream: (v) => none(v, 'listTaskStream'),
  getStreamTask: (v) => ({ msgId: str(record(v, 'getStreamTask', ['msgId']).msgId, 'getStreamTask.msgId', LIMITS.maxMsgId, { nonEmpty: true }) }),
  getTask: (v) => ({ id: int(record(v, 'getTask', ['id']).id, 'getTask.id', 0, Number.MAX_SAFE_INTEGER) }),
  ptyAttach: (v) => none(v, 'ptyAttach'),
  ptyRestart: (v) => none(v, 'ptyRestart'),
  setPxTargets: (v) => ({ ids: ids(record(v, 'setPxTargets', ['ids']).ids, 'setPxTargets.ids') }),
  getClusterForm: (v) => ({ profile: profileName(record(v, 'getClusterForm', ['profile']).profile, 'getClusterForm.profile') }),
  startNewCluster: clusterForm,
  listEngineSets: (v) => none(v, 'listEngineSets'),
  stopEngineSet: (v) => setId(v, 'stopEngineSet'),
  engineSetOutput: (v) => setId(v, 'engineSetOutput'),
  ...monitorValidators,
  ...profileValidators,
};

function valuePayload(v: unknown, what: string): InvokeTypes['push'][0] {
  const r = targetsOf(v, what, ['name', 'source', 'format']);
  const format = r.format;
  if (format !== 'json' && format !== 'expr') throw new PayloadError(`${what}.format`, `must be "json" or "expr", got ${show(format)}`);
  return { targets: r.targets, name: name(r.name, `${what}.name`), source: str(r.source, `${what}.source`, LIMITS.maxSource, { nonEmpty: true }), format };
}

export const sendValidators: SendValidators = {
  ptyWrite: (v) => ({ data: str(record(v, 'ptyWrite', ['data']).data, 'ptyWrite.data', LIMITS.maxPtyWrite) }),
  ptyResize: (v) => {
    const r = record(v, 'ptyResize', ['cols', 'rows']);
    return { cols: int(r.cols, 'ptyResize.cols', 1, LIMITS.maxCols), rows: int(r.rows, 'ptyResize.rows', 1, LIMITS.maxRows) };
  },
  ptyAck: (v) => ({ chars: int(record(v, 'ptyAck', ['chars']).chars, 'ptyAck.chars', 0, LIMITS.maxAck) }),
};
