/**
 * What the console prints, in IPython's parallel style: `[stdout:0] hello`, `[0] Out[4]: 15`,
 * one `[0:execute]: ReferenceError: …` line per failing engine, and the progress line.
 * Colours are the terminal's own 16 ANSI colours, and only when the output is a terminal
 * and NO_COLOR is not set. Everything here is pure: it returns text and writes nothing.
 */
import path from 'node:path';
import { inspect } from 'node:util';
import type { ExecuteResult } from '../client/directView.js';
import { AsyncResult } from '../client/asyncResult.js';
import { CompositeError, RemoteError } from '../client/errors.js';
import type { EngineInfo } from '../protocol/messages.js';
import { packageRoot } from '../util/entry.js';

export interface Style {
  readonly enabled: boolean;
  red(s: string): string;
  green(s: string): string;
  yellow(s: string): string;
  blue(s: string): string;
  magenta(s: string): string;
  cyan(s: string): string;
  bold(s: string): string;
  dim(s: string): string;
}

function sgr(on: number, off: number, enabled: boolean): (s: string) => string {
  return enabled ? (s) => `\x1b[${on}m${s}\x1b[${off}m` : (s) => s;
}

export function makeStyle(enabled: boolean): Style {
  return {
    enabled,
    red: sgr(31, 39, enabled),
    green: sgr(32, 39, enabled),
    yellow: sgr(33, 39, enabled),
    blue: sgr(34, 39, enabled),
    magenta: sgr(35, 39, enabled),
    cyan: sgr(36, 39, enabled),
    bold: sgr(1, 22, enabled),
    dim: sgr(2, 22, enabled),
  };
}

/**
 * Colours on: only for a terminal, never with NO_COLOR (any non-empty value, see no-color.org)
 * or TERM=dumb; FORCE_COLOR=0 turns them off and another FORCE_COLOR value on.
 */
export function colorEnabled(stream: { isTTY?: boolean }, env: NodeJS.ProcessEnv = process.env): boolean {
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false;
  if (env.FORCE_COLOR !== undefined && env.FORCE_COLOR !== '') return env.FORCE_COLOR !== '0' && env.FORCE_COLOR !== 'false';
  if (!stream.isTTY) return false;
  return env.TERM !== 'dumb';
}

// ---- engine output

export function streamLabel(name: 'stdout' | 'stderr', engineId: number, style: Style): string {
  const label = `[${name}:${engineId}]`;
  return name === 'stderr' ? style.red(label) : style.cyan(label);
}

/** `[stdout:0] text` for each line of `text` (a trailing newline ends the last line). */
export function labelLines(name: 'stdout' | 'stderr', engineId: number, text: string, style: Style): string {
  if (text === '') return '';
  const lines = text.replace(/\n$/, '').split('\n');
  const label = streamLabel(name, engineId, style);
  return lines.map((l) => `${label} ${l}\n`).join('');
}

/** `[0] Out[4]: 15`; a multi-line value starts on the next line, as IPython prints it. */
export function formatOut(r: ExecuteResult, style: Style): string {
  if (r.result === undefined) return '';
  const head = style.red(`[${r.engineId}] Out[${r.executionCount}]:`);
  return r.result.includes('\n') ? `${head}\n${r.result}\n` : `${head} ${r.result}\n`;
}

/** The per-engine errors behind a failure: a CompositeError's list, or a bare RemoteError. */
export function remoteErrors(e: unknown): RemoteError[] {
  if (e instanceof CompositeError) return e.elist;
  if (e instanceof RemoteError) return [e];
  return [];
}

/** `[0:execute]: ReferenceError: x is not defined` */
export function errorLine(e: RemoteError, style: Style): string {
  return `${style.red(`[${e.engineId}:${e.method}]:`)} ${style.bold(e.ename)}${e.evalue === '' ? '' : `: ${e.evalue}`}`;
}

/** One heading line and one line per failing engine; any other error as `Name: message`. */
export function formatError(e: unknown, style: Style): string {
  if (e instanceof CompositeError) {
    const head = style.red(`${style.bold('CompositeError')}: one or more exceptions from call to method: ${e.method}`);
    return [head, ...e.elist.map((x) => errorLine(x, style))].join('\n') + '\n';
  }
  if (e instanceof RemoteError) return errorLine(e, style) + '\n';
  if (e instanceof Error) return `${style.red(style.bold(e.name || 'Error'))}${style.red(':')} ${e.message}\n`;
  return `${style.red(style.bold('Uncaught'))} ${inspect(e, { colors: style.enabled })}\n`;
}

/** The full tracebacks (for %tb): each engine's under an `[id:method]:` heading; a local error's stack. */
export function formatTraceback(e: unknown, style: Style): string {
  const remote = remoteErrors(e);
  if (remote.length) {
    return remote
      .map((x) => {
        const lines = x.traceback.length ? x.traceback.flatMap((t) => t.replace(/\n$/, '').split('\n')) : [`${x.ename}: ${x.evalue}`];
        return `${style.red(`[${x.engineId}:${x.method}]:`)}\n${lines.join('\n')}\n`;
      })
      .join('\n');
  }
  if (e instanceof Error) return `${localStack(e)}\n`;
  return `${inspect(e)}\n`;
}

// Frames of the console and the client library, and node's own, say nothing about the user's code.
const INTERNAL_DIRS = [path.join(packageRoot, 'dist', 'core'), path.join(packageRoot, 'core')];

function isInternalFrame(line: string): boolean {
  if (!/^\s+at /.test(line)) return false;
  if (/[\s(]node:/.test(line) || /\(<anonymous>\)$/.test(line)) return true;
  return INTERNAL_DIRS.some((d) => line.includes(d + path.sep) || line.includes(`file://${d}/`));
}

/** A local error's stack without the console's and node's frames. */
export function localStack(e: Error): string {
  const stack = e.stack ?? `${e.name}: ${e.message}`;
  return stack
    .split('\n')
    .filter((l) => !isInternalFrame(l))
    .join('\n');
}

export function formatProgress(done: number, total: number, elapsedMs: number, style: Style): string {
  return style.dim(`[${done}/${total} engines done] ${(elapsedMs / 1000).toFixed(1)}s`);
}

/** How a finished result ended. */
export type Outcome = { ok: true; value: unknown } | { ok: false; error: unknown };

/** The outcome of a result that is done (awaiting it is then immediate). */
export function outcomeOf(ar: PromiseLike<unknown>): Promise<Outcome> {
  return Promise.resolve(ar).then(
    (value): Outcome => ({ ok: true, value }),
    (error: unknown): Outcome => ({ ok: false, error }),
  );
}

/**
 * The Out lines of a successful execute, or the error lines of a failed one, after the Out lines
 * of the engines that did succeed (`succeeded`, their execute results).
 */
export function formatOutcome(outcome: Outcome, style: Style, succeeded: readonly unknown[] = []): string {
  if (!outcome.ok) return executeResults([...succeeded]).map((r) => formatOut(r, style)).join('') + formatError(outcome.error, style);
  return executeResults(outcome.value)
    .map((r) => formatOut(r, style))
    .join('');
}

/** Each engine's stdout and stderr of a result, labelled, engine by engine in target order. */
export function formatOutput(ar: AsyncResult<unknown>, style: Style): string {
  const ids = ar.engineIds;
  const out = ar.stdout;
  const err = ar.stderr;
  let text = '';
  for (let i = 0; i < ids.length; i++) text += labelLines('stdout', ids[i], out[i], style) + labelLines('stderr', ids[i], err[i], style);
  return text;
}

/** The ExecuteResults in an execute's value, whether the view was bare (one engine) or not. */
export function executeResults(value: unknown): ExecuteResult[] {
  const list = Array.isArray(value) ? value : value === undefined ? [] : [value];
  return list.filter((r): r is ExecuteResult => typeof r === 'object' && r !== null && typeof (r as ExecuteResult).engineId === 'number');
}

// ---- local values

/** How a value from a local line is shown: util.inspect, with short forms for the client's objects. */
export function formatValue(v: unknown, style: Style): string {
  return inspect(v, { colors: style.enabled, depth: 4 });
}

// ---- banner

/** Engines grouped in runs of consecutive ids with the same kernel: `engines 0-3: node 20.20.2`. */
export function describeEngines(engines: readonly EngineInfo[]): string[] {
  const live = engines.filter((e) => e.state !== 'dead').sort((a, b) => a.id - b.id);
  const groups: { first: number; last: number; kind: string }[] = [];
  for (const e of live) {
    const kind = `${e.kernel} ${e.language_version}`;
    const g = groups[groups.length - 1];
    if (g && g.kind === kind && g.last === e.id - 1) g.last = e.id;
    else groups.push({ first: e.id, last: e.id, kind });
  }
  return groups.map((g) => (g.first === g.last ? `engine ${g.first}: ${g.kind}` : `engines ${g.first}-${g.last}: ${g.kind}`));
}

export function formatBanner(info: { profile: string; controllerPid: number; engines: readonly EngineInfo[]; startedCluster: boolean }, style: Style): string {
  const n = info.engines.filter((e) => e.state !== 'dead').length;
  const lines = [
    `${style.bold('Multiengine console')}: ${n} engine${n === 1 ? '' : 's'}, profile "${info.profile}", controller pid ${info.controllerPid}${info.startedCluster ? ' (started by this console, stopped on exit)' : ''}`,
    ...(n ? describeEngines(info.engines).map((l) => `  ${l}`) : ['  no engines yet: add some with multiengine start, or cluster.addEngines(n)']),
    `Names: ${style.green('rc')} (the Client), ${style.green('dview')} (all engines; the magics run on it), ${style.green('lview')} (load-balanced: each task to whichever engine is free)${info.startedCluster ? `, ${style.green('cluster')}` : ''} and every export of multiengine.`,
    `Magics: %px CODE, %%px [--targets 0,2] [--block|--noblock], %autopx, %result [N], %tb, %help. Ctrl-D exits.`,
  ];
  return lines.join('\n') + '\n';
}
