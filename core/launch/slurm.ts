/**
 * The slurm launcher: one job, submitted with `sbatch --parsable`, whose script runs the set's
 * engines with `srun` (engine ids = first id + SLURM_PROCID). The set's state follows
 * `squeue -h -j ID -o %T|%r`; once the job has left the queue, `scontrol show job ID` says why
 * (cancelled, killed by its time limit, failed). Submitting, polling and cancelling are the
 * batch launcher's (batchJob.ts); this file knows SLURM's script, commands and answers.
 */
import path from 'node:path';
import type { EngineSetContext, LauncherPlugin } from './launcher.js';
import { BatchJobLauncher, commandOption, envOption, pollMsOption, type JobState, type JobSystem, type RunJobCommand } from './batchJob.js';
import { renderTemplate, templateOption, templateValues } from './jobTemplate.js';
import { checkKnown, missingTool, optionalString, showCommand, stringList } from './launcherKit.js';

const OPTIONS = ['partition', 'account', 'time', 'nodes', 'extra', 'template', 'srunArgs', 'sbatch', 'squeue', 'scancel', 'scontrol', 'pollMs', 'env', 'program', 'root'] as const;
const DEFAULT_POLL_MS = 300;
const HOW_TO_GET = 'install SLURM\'s client commands (apt install slurm-client), or name them with the sbatch, squeue, scancel and scontrol options';

/** squeue's %T states of a job that waits in the queue. */
const PENDING_STATES = new Set(['PENDING', 'REQUEUED', 'REQUEUE_HOLD', 'REQUEUE_FED', 'RESV_DEL_HOLD', 'SPECIAL_EXIT']);
/** States of a job that holds its allocation: its engines may be alive. */
const ACTIVE_STATES = new Set(['CONFIGURING', 'RUNNING', 'COMPLETING', 'SUSPENDED', 'STOPPED', 'SIGNALING', 'STAGE_OUT', 'RESIZING']);

/** How SLURM's end states read in a set's reason. */
const ENDED_WORDS: Record<string, string> = {
  CANCELLED: 'cancelled',
  TIMEOUT: 'killed by its time limit',
  COMPLETED: 'completed (its script ended)',
  FAILED: 'failed',
  NODE_FAIL: 'ended: one of its nodes failed',
  BOOT_FAIL: 'ended: a node failed to boot',
  OUT_OF_MEMORY: 'killed: out of memory',
  PREEMPTED: 'preempted',
  DEADLINE: 'ended: it reached its deadline',
};

/** Why job `jobId` ended, from `scontrol show job` output (JobState, Reason, ExitCode, TimeLimit). */
export function slurmEndReason(jobId: string, scontrolText: string): string {
  const field = (name: string) => new RegExp(`(?:^|\\s)${name}=(\\S+)`).exec(scontrolText)?.[1];
  const state = field('JobState');
  if (!state) return `job ${jobId} has left SLURM's queue`;
  const details: string[] = [];
  const reason = field('Reason');
  if (reason && reason !== 'None') details.push(`Reason=${reason}`);
  const exit = field('ExitCode');
  if ((state === 'FAILED' || state === 'COMPLETED') && exit) details.push(`ExitCode=${exit}`);
  const limit = field('TimeLimit');
  if (state === 'TIMEOUT' && limit) details.push(`TimeLimit=${limit}`);
  const words = ENDED_WORDS[state] ?? `ended (${state})`;
  return `job ${jobId} ${words}${details.length ? ` (${details.join(', ')})` : ''}`;
}

/** One line of an option (it goes into the job script, where a newline would start a command). */
function oneLine(name: string, value: string): string {
  if (/[\r\n]/.test(value)) throw new Error(`option ${name} must be one line, got ${JSON.stringify(value)}`);
  return value;
}

/** The #SBATCH lines of the set: its name, tasks and output file, then the options given. */
function directives(ctx: EngineSetContext, options: Readonly<Record<string, unknown>>, output: string): string[] {
  const lines = [`--job-name=multiengine-${ctx.setId}`, `--ntasks=${ctx.n}`, `--output=${output}`];
  for (const name of ['partition', 'account', 'time'] as const) {
    const v = optionalString(options, name);
    if (v !== undefined) lines.push(`--${name}=${oneLine(name, v)}`);
  }
  const nodes = options.nodes;
  if (nodes !== undefined && nodes !== null) {
    if (!(typeof nodes === 'number' && Number.isInteger(nodes) && nodes > 0) && !(typeof nodes === 'string' && /^\d+(-\d+)?$/.test(nodes))) {
      throw new Error(`option nodes must be a number of nodes (or a range, as "2-4"), got ${JSON.stringify(nodes)}`);
    }
    lines.push(`--nodes=${nodes}`);
  }
  const extra = options.extra;
  if (extra !== undefined && extra !== null && !(Array.isArray(extra) && extra.every((l) => typeof l === 'string'))) {
    throw new Error(`option extra must be a list of #SBATCH lines (as ["--mem=2G", "--gres=gpu:1"]), got ${JSON.stringify(extra)}`);
  }
  for (const l of (extra as string[] | undefined) ?? []) lines.push(oneLine('extra', l.replace(/^#SBATCH\s+/, '').trim()));
  return lines.map((l) => `#SBATCH ${l}`);
}

/** The job script: the user's template with our #SBATCH lines after its first line, or `srun <engine command>`. */
function jobScript(ctx: EngineSetContext, options: Readonly<Record<string, unknown>>, output: string): string {
  const own = directives(ctx, options, output);
  const values = templateValues(ctx, output, { program: optionalString(options, 'program'), root: optionalString(options, 'root') });
  const template = templateOption(options, false);
  if (template !== undefined) {
    // sbatch reads #SBATCH lines up to the first command; a user's own lines come after ours, so they win.
    const lines = renderTemplate(template, values).split('\n');
    const head = lines[0].startsWith('#!') ? [lines.shift()!] : ['#!/bin/sh'];
    return [...head, ...own, ...lines].join('\n');
  }
  const srun = ['srun', ...srunArgs(options)];
  return ['#!/bin/sh', ...own, `exec ${showCommand(srun)} ${values.engine_command}`, ''].join('\n');
}

/** srun's arguments in our script: --label, so that each line of the output file says its task (rank). */
function srunArgs(options: Readonly<Record<string, unknown>>): string[] {
  const given = stringList(options, 'srunArgs');
  return given.includes('--label') || given.includes('-l') ? given : ['--label', ...given];
}

/** A line srun --label wrote: `3: text` (srun pads the rank with spaces to the widest). */
const LABELLED = /^\s*(\d+): ?(.*)$/;

function slurmSystem(ctx: EngineSetContext, options: Readonly<Record<string, unknown>>): JobSystem {
  checkKnown(options, OPTIONS, 'slurm');
  const sbatch = commandOption(options, 'sbatch', ['sbatch'])!;
  const squeue = commandOption(options, 'squeue', ['squeue'])!;
  const scancel = commandOption(options, 'scancel', ['scancel'])!;
  const scontrol = commandOption(options, 'scontrol', ['scontrol'])!;
  // sbatch expands %j (the job id) in --output.
  const output = path.join(ctx.workDir, 'slurm-%j.out');
  const script = jobScript(ctx, options, output);

  const endReason = async (jobId: string, run: RunJobCommand): Promise<string> => {
    const argv = [...scontrol, 'show', 'job', jobId];
    const r = await run(argv);
    if (r.code === 0) return slurmEndReason(jobId, r.stdout);
    return `job ${jobId} has left SLURM's queue (${showCommand(argv)} ${r.reason}: ${r.stderr.trim()})`;
  };

  const query = async (jobId: string, run: RunJobCommand): Promise<JobState> => {
    const argv = [...squeue, '-h', '-j', jobId, '-o', '%T|%r'];
    const r = await run(argv);
    if (r.errorCode) throw new Error(missingTool(argv[0], r.errorCode, HOW_TO_GET));
    // squeue forgets a job some minutes after its end (MinJobAge): "Invalid job id" then means gone.
    if (r.code !== 0 && !/invalid job id/i.test(r.stderr)) throw new Error(`${showCommand(argv)} ${r.reason}: ${r.stderr.trim()}`);
    const line = r.code === 0 ? r.stdout.split('\n').find((l) => l.trim() !== '') : undefined;
    if (line) {
      const [state, why] = line.trim().split('|');
      const reason = why && why !== 'None' ? why : undefined;
      if (PENDING_STATES.has(state)) return { state: 'pending', reason: reason ? `${state.toLowerCase()}: ${reason}` : undefined };
      if (ACTIVE_STATES.has(state)) return { state: 'running', reason: state === 'RUNNING' ? undefined : state.toLowerCase() };
    }
    return { state: 'gone', reason: await endReason(jobId, run) };
  };

  return {
    name: 'slurm',
    submit: [...sbatch, '--parsable'],
    submitHint: HOW_TO_GET,
    script,
    // --parsable prints "id" or "id;cluster".
    jobId: (text) => /^\s*(\d+)/.exec(text)?.[1],
    query,
    cancel: (jobId) => [...scancel, jobId],
    // To the job's steps (srun and its engines), not to the batch script.
    signal: (jobId, sig) => [...scancel, `--signal=${sig.replace(/^SIG/, '')}`, jobId],
    outputFile: (jobId) => output.replace('%j', jobId),
    // Our script's srun labels its lines; a template's lines are the set's.
    outputRank:
      options.template === undefined || options.template === null
        ? (line) => {
            const m = LABELLED.exec(line);
            return m ? { rank: Number(m[1]), text: m[2] } : undefined;
          }
        : undefined,
    cannotRestart: 'its engines are the tasks of one SLURM job (one srun step), and the job\'s allocation owns their processes; stop the set and start a new one',
  };
}

const plugin: LauncherPlugin = {
  name: 'slurm',
  create: (ctx, options) => new BatchJobLauncher(ctx, slurmSystem(ctx, options), { pollMs: pollMsOption(options, DEFAULT_POLL_MS), env: envOption(options) }),
};
export default plugin;
