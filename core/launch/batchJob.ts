/**
 * One engine set as one batch job: the launcher that the batch and slurm plugins share. It writes
 * the job script, submits it (the connection information travels in the submit command's
 * environment, which batch systems hand on to the job), follows the job's state by polling the
 * system's status command, cancels the job on stop() and waits until it is gone. What differs
 * between batch systems (the script, the commands, how to read their answers) is a JobSystem.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { EngineSetContext, EngineSetLauncher, LauncherStatus } from './launcher.js';
import { LauncherError } from './launcher.js';
import { FileFollower } from '../util/fileFollower.js';
import { missingTool, OutputLog, runCommand, showCommand, StatusCell, type CommandResult } from './launcherKit.js';

/** Where a job is, as its batch system answers; undefined from a query means "no answer this time" (asked again later). */
export type JobState = { state: 'pending' | 'running'; reason?: string } | { state: 'gone'; reason: string };

/** Runs a batch system command (status, cancel) with the launcher's environment. */
export type RunJobCommand = (argv: readonly string[]) => Promise<CommandResult>;

/** What one batch system is to the launcher. */
export interface JobSystem {
  /** The launcher's name in messages ('slurm', 'batch'). */
  readonly name: string;
  /** The submit command; the script's path is appended. */
  readonly submit: readonly string[];
  /** How to install or name the submit command when it is missing. */
  readonly submitHint: string;
  /** The job script's text. */
  readonly script: string;
  /** The job id in what submit printed, or undefined. */
  jobId(submitOutput: string): string | undefined;
  /** Where the job is; absent when the system has no status command (the set then counts as running until stopped). */
  query?(jobId: string, run: RunJobCommand): Promise<JobState | undefined>;
  /** The cancel command for jobId; absent when there is none (stop() then only forgets the job). */
  cancel?(jobId: string): string[];
  /** The command that sends `sig` to the job's processes, when the system has one. */
  signal?(jobId: string, sig: NodeJS.Signals): string[];
  /** The file the job's output goes to. */
  outputFile(jobId: string): string;
  /** The task (rank) a line of that file names, when the system's tool labels them (srun --label). */
  outputRank?(line: string): { rank: number; text: string } | undefined;
  /** Why one engine of the set cannot be restarted on its own. */
  readonly cannotRestart: string;
}

export interface BatchJobSettings {
  /** How often the status command is run. */
  pollMs: number;
  /** Added to the environment of every batch command (SLURM_CONF, PATH); the submit command also gets the connection. */
  env: Readonly<Record<string, string>>;
}

/** How long stop() waits for a cancelled job to leave the queue (a batch system's KillWait is 30 s by default). */
const STOP_WAIT_MS = 90_000;
/** Characters of the job's output file shown by output(): its end. */
const OUTPUT_FILE_TAIL = 128 * 1024;

export class BatchJobLauncher implements EngineSetLauncher {
  private readonly cell = new StatusCell();
  private readonly out = new OutputLog();
  private jobId: string | undefined;
  private timer: NodeJS.Timeout | undefined;
  /** Reads the job's output file as it grows: its lines are the engines' output. */
  private follower: FileFollower | undefined;
  private stopping = false;
  /** The last query failure logged, so a status command that keeps failing is logged once. */
  private lastProblem = '';
  readonly onDidChangeStatus = this.cell.onDidChange;
  readonly cannotRestart: string;

  constructor(
    private readonly ctx: EngineSetContext,
    private readonly system: JobSystem,
    private readonly settings: BatchJobSettings,
  ) {
    this.cannotRestart = system.cannotRestart;
  }

  get status(): LauncherStatus {
    return this.cell.status;
  }

  private readonly run: RunJobCommand = (argv) => runCommand(this.ctx.spawner, argv, { ...this.settings.env });

  async start(): Promise<void> {
    const { ctx, system } = this;
    const script = path.join(ctx.workDir, 'job.sh');
    fs.writeFileSync(script, system.script, { mode: 0o700 });
    const argv = [...system.submit, script];
    this.out.append(`$ ${showCommand(argv)}\n`);
    const r = await runCommand(ctx.spawner, argv, { ...this.settings.env, ...ctx.env });
    this.out.append(r.stdout + r.stderr);
    if (r.errorCode) throw new LauncherError(missingTool(argv[0], r.errorCode, system.submitHint));
    if (r.code !== 0) {
      throw new LauncherError(`${showCommand(system.submit)} refused the job (${r.reason}): ${(r.stderr.trim() || r.stdout.trim() || '(it printed nothing)').replace(/\s*\n\s*/g, ' | ')}`);
    }
    const jobId = system.jobId(r.stdout);
    if (jobId === undefined) {
      throw new LauncherError(`no job id in what ${showCommand(system.submit)} printed (${JSON.stringify(r.stdout.trim())}); the job may be queued: check your batch system`);
    }
    this.jobId = jobId;
    ctx.log(`${system.name}: submitted job ${jobId} (${showCommand(argv)})`);
    this.followOutput(system.outputFile(jobId));
    if (!system.query) {
      this.cell.set({ state: 'running', jobId });
      return;
    }
    this.cell.set({ state: 'pending', reason: 'submitted', jobId });
    await this.poll();
    this.schedule();
  }

  private followOutput(file: string): void {
    const { ctx, system } = this;
    this.follower = new FileFollower(
      file,
      (line) => {
        const r = system.outputRank?.(line);
        if (r && r.rank < ctx.n) ctx.engineOutput(r.text, ctx.firstId + r.rank);
        else if (line.trim() !== '') ctx.engineOutput(line);
      },
      { pollMs: Math.max(this.settings.pollMs, 200) },
    ).start();
    // Once the job is gone, what it wrote last is read and the file let go.
    this.cell.onDidChange((s) => s.state === 'ended' && this.follower?.stop());
  }

  private schedule(): void {
    if (this.stopping || this.cell.status.state === 'ended') return;
    this.timer = setTimeout(() => void this.poll().finally(() => this.schedule()), this.settings.pollMs);
    this.timer.unref();
  }

  /** Asks where the job is and follows it: a job gone from the queue ends the set with the system's reason. */
  private async poll(): Promise<JobState | undefined> {
    if (!this.system.query || this.jobId === undefined) return undefined;
    let s: JobState | undefined;
    try {
      s = await this.system.query(this.jobId, this.run);
    } catch (e) {
      this.problem(`asking where job ${this.jobId} is failed: ${(e as Error).message}`);
      return undefined;
    }
    if (!s) return undefined;
    this.lastProblem = '';
    if (s.state === 'gone') {
      if (!this.stopping) this.cell.set({ state: 'ended', reason: s.reason });
    } else if (!this.stopping) {
      this.cell.set({ state: s.state, reason: s.reason });
    }
    return s;
  }

  private problem(text: string): void {
    if (text === this.lastProblem) return;
    this.lastProblem = text;
    this.ctx.log(`${this.system.name}: ${text}`);
    this.out.append(`${text}\n`);
  }

  /** Cancels the job and resolves once the batch system no longer lists it. */
  async stop(): Promise<void> {
    this.stopping = true;
    clearTimeout(this.timer);
    const jobId = this.jobId;
    if (jobId === undefined || this.cell.status.state === 'ended') return;
    const cancel = this.system.cancel?.(jobId);
    if (cancel) {
      this.out.append(`$ ${showCommand(cancel)}\n`);
      const r = await this.run(cancel);
      this.out.append(r.stdout + r.stderr);
      if (r.errorCode) throw new LauncherError(missingTool(cancel[0], r.errorCode, `job ${jobId} was not cancelled`));
      if (r.code !== 0) this.problem(`${showCommand(cancel)} ${r.reason}: ${r.stderr.trim()}`);
    }
    if (this.system.query) {
      const deadline = Date.now() + STOP_WAIT_MS;
      for (;;) {
        const s = await this.poll();
        if (s?.state === 'gone') break;
        if (Date.now() > deadline) throw new LauncherError(`job ${jobId} was still listed ${STOP_WAIT_MS / 1000} s after ${cancel ? showCommand(cancel) : 'stop'}`);
        await new Promise((r) => setTimeout(r, Math.min(this.settings.pollMs, 250)));
      }
    }
    this.stopping = false;
    this.cell.set({ state: 'ended', reason: `job ${jobId} cancelled (the set was stopped)` });
  }

  async signal(sig: NodeJS.Signals): Promise<void> {
    const jobId = this.jobId;
    if (jobId === undefined) throw new LauncherError('the job was not submitted yet');
    const argv = this.system.signal?.(jobId, sig);
    if (!argv) throw new LauncherError(`the ${this.system.name} launcher has no command to signal job ${jobId}`);
    const r = await this.run(argv);
    if (r.code !== 0) throw new LauncherError(`${showCommand(argv)} ${r.reason}: ${r.stderr.trim() || r.stdout.trim()}`);
  }

  /** The submit and cancel commands with what they printed, then the end of the job's output file. */
  output(): string {
    const own = this.out.text();
    if (this.jobId === undefined) return own;
    const file = this.system.outputFile(this.jobId);
    const tail = fileTail(file, OUTPUT_FILE_TAIL);
    return tail === undefined ? `${own}(no job output yet at ${file})\n` : `${own}--- ${file} ---\n${tail}`;
  }
}

/** The last `max` characters of a file, or undefined when it cannot be read (not written yet). */
function fileTail(file: string, max: number): string | undefined {
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch {
    return undefined;
  }
  try {
    const size = fs.fstatSync(fd).size;
    const length = Math.min(size, max);
    const buf = Buffer.alloc(length);
    fs.readSync(fd, buf, 0, length, size - length);
    return (size > max ? `[${size - max} earlier bytes not shown]\n` : '') + buf.toString('utf8');
  } finally {
    fs.closeSync(fd);
  }
}

/** The env option: variables (names to strings) added to the batch commands' environment. */
export function envOption(options: Readonly<Record<string, unknown>>): Record<string, string> {
  const v = options.env;
  if (v === undefined || v === null) return {};
  if (typeof v !== 'object' || Array.isArray(v) || !Object.values(v).every((x) => typeof x === 'string')) {
    throw new Error(`option env must be an object of variable names to strings (as { "SLURM_CONF": "/etc/slurm/slurm.conf" }), got ${JSON.stringify(v)}`);
  }
  return { ...(v as Record<string, string>) };
}

/** The pollMs option: how often the status command runs, 50 ms to 60 s. */
export function pollMsOption(options: Readonly<Record<string, unknown>>, fallback: number): number {
  const v = options.pollMs;
  if (v === undefined || v === null) return fallback;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 50 || v > 60_000) throw new Error(`option pollMs must be a number of milliseconds from 50 to 60000, got ${JSON.stringify(v)}`);
  return v;
}

/** An option that is one command line: a list of words or one string of space-separated words, not empty. */
export function commandOption(options: Readonly<Record<string, unknown>>, name: string, fallback?: readonly string[]): string[] | undefined {
  const v = options[name];
  if (v === undefined || v === null) return fallback ? [...fallback] : undefined;
  const argv = typeof v === 'string' ? v.split(/\s+/).filter(Boolean) : v;
  if (!Array.isArray(argv) || argv.length === 0 || !argv.every((x) => typeof x === 'string' && x !== '')) {
    throw new Error(`option ${name} must be a command: a list of words (as ["qsub", "-V"]) or one string of space-separated words, got ${JSON.stringify(v)}`);
  }
  return argv as string[];
}
