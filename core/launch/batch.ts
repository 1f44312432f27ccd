/**
 * The batch launcher: any batch system with submit, cancel and status commands (PBS/Torque, SGE,
 * LSF, ...). The set's engines run in one job whose script comes from a template with `{n}`,
 * `{engine_command}`, `{job_name}`, `{work_dir}`, `{output}`, `{set}` and `{first_id}`
 * placeholders; the job's state follows the status command's answer (docs/launchers.md, "Batch systems").
 */
import path from 'node:path';
import type { LauncherPlugin } from './launcher.js';
import { BatchJobLauncher, commandOption, envOption, pollMsOption, type JobState, type JobSystem, type RunJobCommand } from './batchJob.js';
import { renderTemplate, templateOption, templateValues } from './jobTemplate.js';
import { checkKnown, missingTool, optionalString, showCommand } from './launcherKit.js';

const OPTIONS = ['template', 'submit', 'jobIdPattern', 'cancel', 'status', 'running', 'pending', 'signal', 'pollMs', 'env', 'program', 'root'] as const;

/** The job id in a submit command's output by default: the first number, with its dotted server part (PBS's 123.server). */
const DEFAULT_JOB_ID = '(\\d+(?:\\.[A-Za-z0-9_-]+)*)';
const DEFAULT_POLL_MS = 1000;

function regexOption(options: Readonly<Record<string, unknown>>, name: string, needsGroup = false): RegExp | undefined {
  const v = optionalString(options, name);
  if (v === undefined) return undefined;
  let re: RegExp;
  try {
    re = new RegExp(v, 'm');
  } catch (e) {
    throw new Error(`option ${name} is not a regular expression: ${(e as Error).message}`);
  }
  if (needsGroup && !/\((?!\?)/.test(v)) throw new Error(`option ${name} needs a group, as "job (\\\\d+)": its first group is the job id`);
  return re;
}

/** The batch system that the options describe. */
export function templateJobSystem(ctx: Parameters<LauncherPlugin['create']>[0], options: Readonly<Record<string, unknown>>): JobSystem {
  checkKnown(options, OPTIONS, 'batch');
  const template = templateOption(options, true)!;
  const submit = commandOption(options, 'submit');
  if (!submit) throw new Error('option submit is required: the command that submits a job script, as ["qsub", "-V"] (the script path is appended)');
  const jobIdPattern = regexOption(options, 'jobIdPattern', true) ?? new RegExp(DEFAULT_JOB_ID);
  const cancel = commandOption(options, 'cancel');
  const status = commandOption(options, 'status');
  const signal = commandOption(options, 'signal');
  const running = regexOption(options, 'running');
  const pending = regexOption(options, 'pending');
  if (status && (!running || !pending)) throw new Error('options running and pending are required with status: regular expressions matched against what the status command prints for a running and a queued job');
  if (!status && (running || pending)) throw new Error('options running and pending need the status command they read (option status)');
  const output = path.join(ctx.workDir, 'job.out');
  const script = renderTemplate(template, templateValues(ctx, output, { program: optionalString(options, 'program'), root: optionalString(options, 'root') }));

  const query = async (jobId: string, run: RunJobCommand): Promise<JobState> => {
    const argv = [...status!, jobId];
    const r = await run(argv);
    if (r.errorCode) throw new Error(missingTool(argv[0], r.errorCode, 'name the status command with the status option'));
    const said = (r.stdout.trim() || r.stderr.trim()).replace(/\s*\n\s*/g, ' | ');
    if (r.code !== 0) return { state: 'gone', reason: `job ${jobId} is no longer listed (${showCommand(argv)} ${r.reason}${said ? `: ${said}` : ''})` };
    if (running!.test(r.stdout)) return { state: 'running' };
    if (pending!.test(r.stdout)) return { state: 'pending', reason: said || undefined };
    return { state: 'gone', reason: `job ${jobId} is neither running nor pending (${showCommand(argv)} printed ${said ? JSON.stringify(said) : 'nothing'})` };
  };

  return {
    name: 'batch',
    submit,
    submitHint: 'name your batch system\'s submit command with the submit option, as ["qsub"]',
    script,
    jobId: (text) => jobIdPattern.exec(text)?.[1],
    query: status ? query : undefined,
    cancel: cancel ? (jobId) => [...cancel, jobId] : undefined,
    signal: signal ? (jobId, sig) => [...signal.map((w) => w.replaceAll('{signal}', sig)), jobId] : undefined,
    outputFile: () => output,
    cannotRestart: 'its engines run inside one batch job, whose allocation owns their processes; stop the set and start a new one',
  };
}

const plugin: LauncherPlugin = {
  name: 'batch',
  create: (ctx, options) => new BatchJobLauncher(ctx, templateJobSystem(ctx, options), { pollMs: pollMsOption(options, DEFAULT_POLL_MS), env: envOption(options) }),
};
export default plugin;
