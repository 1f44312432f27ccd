/**
 * The mpi launcher: one `mpiexec -n N <engine command>` (OpenMPI or MPICH), extra arguments passed
 * through (hosts, hostfiles, --oversubscribe, ...). Engine ids are first id + MPI rank, so the
 * first set of a cluster has ids equal to the ranks, and a Python engine can use mpi4py's
 * COMM_WORLD. The connection information travels in the environment: OpenMPI forwards it to
 * ranks on other hosts with `-x NAME` (the name only, never the key); MPICH's hydra forwards the
 * whole environment by default.
 */
import { CONNECTION_ENV } from '../connection/engineStart.js';
import type { EngineSetContext, EngineSetLauncher, LauncherPlugin } from './launcher.js';
import { LauncherError } from './launcher.js';
import { checkKnown, missingTool, optionalString, OutputLog, runCommand, showCommand, StatusCell, stringList } from './launcherKit.js';
import type { SpawnedProcess } from './spawner.js';

const OPTIONS = ['mpiexec', 'args', 'program', 'root'] as const;
/** After SIGTERM, mpiexec gets this long to end its ranks; SIGKILL would orphan them (OpenMPI). */
const STOP_GRACE_MS = 10_000;

export type MpiFlavor = 'openmpi' | 'mpich' | 'unknown';

/** mpiexec's option that puts each output line's rank in front of it, by flavor. */
const TAG_OPTION: Record<MpiFlavor, string[]> = { openmpi: ['--tag-output'], mpich: ['-prepend-rank'], unknown: [] };
/** A tagged line: OpenMPI's `[1,3]<stdout>:text` (5.x puts a space after the colon), MPICH's `[3] text`. */
const TAGGED = /^\[(?:\d+,)?(\d+)\](?:<std(?:out|err)>:|) ?(.*)$/;

/** Rank and text of a line mpiexec printed with its rank tag; undefined for mpiexec's own lines. */
export function rankLine(line: string): { rank: number; text: string } | undefined {
  const m = TAGGED.exec(line);
  return m ? { rank: Number(m[1]), text: m[2] } : undefined;
}

/** Which MPI `mpiexec --version` describes. */
export function mpiFlavor(versionText: string): MpiFlavor {
  if (/open ?mpi|open-?rte/i.test(versionText)) return 'openmpi'; // 4.x says "mpiexec (OpenRTE) 4.1.4"
  if (/hydra|mpich|intel\(r\) mpi/i.test(versionText)) return 'mpich';
  return 'unknown';
}

class MpiLauncher implements EngineSetLauncher {
  private readonly cell = new StatusCell();
  private readonly out = new OutputLog();
  private proc: SpawnedProcess | null = null;
  private readonly mpiexec: string;
  private readonly extra: string[];
  private readonly program: string | undefined;
  private readonly root: string | undefined;
  readonly onDidChangeStatus = this.cell.onDidChange;
  readonly cannotRestart = 'its engines are the ranks of one mpiexec job, which owns their processes; stop the set and start a new one';

  constructor(
    private readonly ctx: EngineSetContext,
    options: Readonly<Record<string, unknown>>,
  ) {
    checkKnown(options, OPTIONS, 'mpi');
    this.mpiexec = optionalString(options, 'mpiexec') ?? 'mpiexec';
    this.extra = stringList(options, 'args');
    this.program = optionalString(options, 'program');
    this.root = optionalString(options, 'root');
  }

  get status() {
    return this.cell.status;
  }

  async start(): Promise<void> {
    const { ctx } = this;
    const version = await runCommand(ctx.spawner, [this.mpiexec, '--version']);
    if (version.errorCode) throw new LauncherError(missingTool(this.mpiexec, version.errorCode, 'install OpenMPI (apt install openmpi-bin) or MPICH, or name mpiexec with the mpiexec option'));
    const flavor = mpiFlavor(version.stdout + version.stderr);
    const forward = flavor === 'openmpi' ? ['-x', CONNECTION_ENV] : [];
    // Tagged with their rank, the engines' lines reach the controller's log as their engine's.
    const argv = [this.mpiexec, '-n', String(ctx.n), ...forward, ...TAG_OPTION[flavor].filter((o) => !this.extra.includes(o)), ...this.extra, ...ctx.engineCommand({ program: this.program, root: this.root })];
    this.out.append(`$ ${showCommand(argv)}\n`);
    ctx.log(`${flavor === 'unknown' ? 'mpiexec' : flavor}: ${showCommand(argv)}`);
    // Ranks write to a pty under OpenMPI: no colour codes in the output we keep.
    const proc = ctx.spawner.start({
      command: argv[0],
      args: argv.slice(1),
      env: { ...ctx.env, NO_COLOR: '1', NODE_DISABLE_COLORS: '1' },
      stdin: 'ignore',
      detached: process.platform !== 'win32',
    });
    this.proc = proc;
    const relay = (line: string) => {
      const r = rankLine(line);
      if (r && r.rank < ctx.n) ctx.engineOutput(r.text, ctx.firstId + r.rank);
      else if (line.trim() !== '') ctx.engineOutput(line);
    };
    this.out.attach(proc.stdout, '', relay);
    this.out.attach(proc.stderr, '', relay);
    proc.onDidExit((exit) => {
      const tail = this.out.tail(3).join(' | ');
      this.cell.set({ state: 'ended', reason: `mpiexec ${exit.reason}${tail && exit.code !== 0 ? ` (${tail})` : ''}` });
    });
    if (proc.pid <= 0) {
      const exit = await new Promise<{ reason: string; errorCode?: string }>((r) => (proc.exit ? r(proc.exit) : proc.onDidExit(r)));
      throw new LauncherError(exit.errorCode ? missingTool(this.mpiexec, exit.errorCode, 'install OpenMPI or MPICH') : `mpiexec ${exit.reason}`);
    }
    this.cell.set({ state: 'running' });
  }

  async stop(): Promise<void> {
    const proc = this.proc;
    if (!proc || proc.state === 'exited') return;
    // SIGTERM lets mpiexec end every rank; SIGKILL would orphan them (their own process groups).
    await proc.stop(STOP_GRACE_MS);
  }

  async signal(sig: NodeJS.Signals): Promise<void> {
    // mpiexec forwards SIGINT, SIGUSR1/2 (OpenMPI) to its ranks.
    this.proc?.signal(sig);
  }

  output(): string {
    return this.out.text();
  }
}

const plugin: LauncherPlugin = {
  name: 'mpi',
  create: (ctx, options) => new MpiLauncher(ctx, options),
};
export default plugin;
