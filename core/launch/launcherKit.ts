/**
 * What every launcher keeps: its status (with an event when it changes) and what its tool
 * printed, capped, for `cluster.output(set)` and the errors that quote it.
 */
import type { Readable } from 'node:stream';
import { Emitter, type Event } from '../events/emitter.js';
import type { LauncherStatus } from './launcher.js';
import type { ProcessSpawner } from './spawner.js';
import { LineSplitter } from '../util/lines.js';

/** Characters of launcher output kept per set; older text is dropped first. */
const MAX_OUTPUT_CHARS = 256 * 1024;

export class OutputLog {
  private chunks: string[] = [];
  private size = 0;
  private dropped = 0;

  constructor(private readonly max = MAX_OUTPUT_CHARS) {}

  append(text: string): void {
    if (!text) return;
    this.chunks.push(text);
    this.size += text.length;
    while (this.size > this.max && this.chunks.length > 1) {
      const old = this.chunks.shift()!;
      this.size -= old.length;
      this.dropped += old.length;
    }
  }

  /** Appends everything `stream` prints, each line prefixed (as `[hostb] `); `onLine` gets each line as printed. */
  attach(stream: Readable | null, prefix = '', onLine?: (line: string) => void): void {
    if (!stream) return;
    stream.setEncoding('utf8');
    const split = new LineSplitter();
    const take = (lines: string[]) => {
      if (onLine) for (const l of lines) onLine(l);
      this.append(lines.map((l) => `${prefix}${l}\n`).join(''));
    };
    stream.on('data', (text: string) => {
      const lines = split.push(text);
      if (lines.length) take(lines.map((l) => l.replace(/\r$/, '')));
    });
    stream.on('end', () => {
      const rest = split.end();
      if (rest) take([rest]);
    });
    stream.on('error', () => {});
  }

  text(): string {
    const all = this.chunks.join('');
    return this.dropped ? `[${this.dropped} earlier characters dropped]\n${all}` : all;
  }

  /** The last `n` non-empty lines. */
  tail(n = 12): string[] {
    return this.text().split('\n').filter((l) => l.trim() !== '').slice(-n);
  }
}

export class StatusCell {
  private current: LauncherStatus = { state: 'starting' };
  private readonly changes = new Emitter<LauncherStatus>();
  readonly onDidChange: Event<LauncherStatus> = this.changes.event;

  get status(): LauncherStatus {
    return this.current;
  }

  /** Sets the status (jobId kept unless given); an ended status never changes again. */
  set(s: LauncherStatus): void {
    if (this.current.state === 'ended') return;
    const next = { ...s, jobId: s.jobId ?? this.current.jobId };
    if (next.state === this.current.state && next.reason === this.current.reason && next.jobId === this.current.jobId) return;
    this.current = next;
    this.changes.fire(next);
  }
}

/** A command line as one string for messages and logs (arguments with spaces quoted). */
export function showCommand(argv: readonly string[]): string {
  return argv.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ');
}

/** A launcher option that must be a list of strings (extra arguments); a string is split on spaces. */
export function stringList(options: Readonly<Record<string, unknown>>, name: string): string[] {
  const v = options[name];
  if (v === undefined || v === null) return [];
  if (typeof v === 'string') return v.split(/\s+/).filter(Boolean);
  if (Array.isArray(v) && v.every((x) => typeof x === 'string')) return v as string[];
  throw new Error(`option ${name} must be a list of strings (or one string of space-separated words), got ${JSON.stringify(v)}`);
}

/** A launcher option that must be a non-empty string when given. */
export function optionalString(options: Readonly<Record<string, unknown>>, name: string): string | undefined {
  const v = options[name];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string' || v === '') throw new Error(`option ${name} must be a non-empty string, got ${JSON.stringify(v)}`);
  return v;
}

/** Options a launcher does not know are named, so a typo is not silently ignored. */
export function checkKnown(options: Readonly<Record<string, unknown>>, known: readonly string[], launcher: string): void {
  const unknown = Object.keys(options).filter((k) => !known.includes(k));
  if (unknown.length) throw new Error(`unknown option${unknown.length > 1 ? 's' : ''} ${unknown.join(', ')} for the ${launcher} launcher; it takes ${known.join(', ')}`);
}

export interface CommandResult {
  code: number | null;
  stdout: string;
  stderr: string;
  /** ENOENT when there is no such command, EACCES when it cannot be run. */
  errorCode?: string;
  /** How it ended, in words ('exited with code 1', 'could not start: ...'). */
  reason: string;
}

/** Runs a short command (sbatch, squeue, mpiexec --version) to its end through the spawner. */
export function runCommand(spawner: ProcessSpawner, argv: readonly string[], env: Record<string, string> = {}, timeoutMs = 30_000): Promise<CommandResult> {
  return new Promise((resolve) => {
    const proc = spawner.start({ command: argv[0], args: argv.slice(1), env, stdin: 'ignore' });
    let stdout = '';
    let stderr = '';
    proc.stdout.setEncoding('utf8');
    proc.stderr.setEncoding('utf8');
    proc.stdout.on('data', (t: string) => (stdout += t));
    proc.stderr.on('data', (t: string) => (stderr += t));
    proc.stdout.on('error', () => {});
    proc.stderr.on('error', () => {});
    const timer = setTimeout(() => proc.signal('SIGKILL'), timeoutMs);
    proc.onDidExit((exit) => {
      clearTimeout(timer);
      // Let the pipes drain what the process wrote just before it ended.
      setImmediate(() => resolve({ code: exit.code, stdout, stderr, errorCode: exit.errorCode, reason: exit.reason }));
    });
  });
}

/** Why a tool could not be run, with how to get it. */
export function missingTool(command: string, errorCode: string | undefined, how: string): string {
  return `${JSON.stringify(command)} ${errorCode === 'EACCES' ? 'cannot be run (EACCES)' : 'was not found (ENOENT)'}: ${how}`;
}
