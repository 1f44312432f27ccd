/**
 * The launcher plugin interface: how an engine set (a group of engines started together) is
 * started, watched and stopped through the tools of the field (mpiexec, ssh, a batch system),
 * never a scheduler of our own. The controller holds one EngineSetLauncher per set
 * (core/controller/engineSets.ts); built-in plugins are in this folder, and a plugin can be
 * named by its module path (docs/launchers.md, "Writing a launcher").
 */
import type { Event } from '../events/emitter.js';
import type { ProcessSpawner } from './spawner.js';

/** Where a set is: spawned or submitted (starting), waiting in a batch queue (pending), running, gone (ended). */
export type LauncherState = 'starting' | 'pending' | 'running' | 'ended';

export interface LauncherStatus {
  state: LauncherState;
  /** Why it pends or ended, in the tool's own words where there are some. */
  reason?: string;
  /** The batch system's job id, once submitted. */
  jobId?: string;
}

/**
 * What a launcher needs to start its engines: the engine command line, and the environment
 * that carries the connection information (never a command line: `ps` shows those on every host).
 */
export interface EngineSetContext {
  /** 'set-3': passed to every engine (--engine-set), so the controller knows where it came from. */
  readonly setId: string;
  /** Engines to start. */
  readonly n: number;
  /** Engine k of the set (its rank, for mpi and srun) takes id firstId + k. */
  readonly firstId: number;
  /** The engine language ('node', 'python'). */
  readonly engine: string;
  /** The interpreter asked for (python engines), if any. */
  readonly interpreter: string | undefined;
  /**
   * The command line of one engine of this set: `program` and the package root default to this
   * machine's (right on this host and on hosts that share its filesystem). `id` gives the engine
   * a fixed id (ssh: one process per engine); without it the engine takes firstId + its rank.
   * `connectionOnStdin`: the engine reads the connection information from its first stdin line
   * and exits when stdin closes (ssh); otherwise it reads MULTIENGINE_CONNECTION from its environment.
   */
  engineCommand(opts?: { program?: string; root?: string; id?: number; connectionOnStdin?: boolean }): string[];
  /** The variables every engine needs (MULTIENGINE_CONNECTION): add them to the environment of what you start. */
  readonly env: Readonly<Record<string, string>>;
  /** The connection information as one JSON line, for engines that read it on stdin. */
  readonly connectionLine: string;
  /** Where a launcher may write its files (job scripts, output): a folder of this set in the profile. */
  readonly workDir: string;
  /** Starts processes on this machine (mpiexec, ssh, sbatch). */
  readonly spawner: ProcessSpawner;
  /** A line for the controller's log. */
  log(line: string): void;
  /**
   * A line an engine of this set printed outside its requests, as the launcher got it (the
   * engines' stdout and stderr through mpiexec, ssh or the job's output file): the controller's
   * log shows it as `[engine N] line`, or `[set-3] line` when `engineId` is not known.
   */
  engineOutput(line: string, engineId?: number): void;
}

/** One engine set's launcher: started once, stopped once. */
export interface EngineSetLauncher {
  /** Resolves once the engines are spawned or the job submitted; rejects with the tool's own message when it refused. */
  start(): Promise<void>;
  /** Ends the set: cancels the job or signals the processes, and resolves once they are gone. */
  stop(): Promise<void>;
  /** Sends a signal to the set's processes (the batch system's signal command for jobs). */
  signal(sig: NodeJS.Signals): Promise<void>;
  readonly status: LauncherStatus;
  readonly onDidChangeStatus: Event<LauncherStatus>;
  /** What the tool printed (mpiexec's, srun's or ssh's output, the job's output file), most recent last, capped. */
  output(): string;
  /**
   * Starts a new process for engine `id` of this set (its old one is gone), or is absent when the
   * launcher cannot: `cannotRestart` then says why, in the user's words. It may resolve only once
   * the engine registered, and reject with the tool's words when the new process ended first.
   */
  restartEngine?(id: number): Promise<void>;
  readonly cannotRestart?: string;
  /**
   * The controller tells the launcher that engine `id` of its set registered: from then on the
   * end of that engine's process is the loss of one engine, no failed start (ssh).
   */
  engineRegistered?(id: number): void;
}

/** A launcher plugin: the default export of a launcher module. */
export interface LauncherPlugin {
  readonly name: string;
  /** Checks `options` (throws an Error naming the bad one) and makes the set's launcher; starts nothing yet. */
  create(ctx: EngineSetContext, options: Readonly<Record<string, unknown>>): EngineSetLauncher;
}

/** A launcher's options were wrong, or its tool refused: the message says which and quotes the tool. */
export class LauncherError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LauncherError';
  }
}
