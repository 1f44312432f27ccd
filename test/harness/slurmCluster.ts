/**
 * A real SLURM cluster on this machine for the slurm launcher tests: munged with its own key and
 * socket, slurmctld on a private port, and several slurmd "nodes" on 127.0.0.1 (one
 * `slurmd -D -N nX` each, on its own port), all in a fresh temporary folder; or the same across
 * namespace hosts (startSlurmOnHosts). Every daemon runs in the foreground as our child, so
 * stop() ends it by pid; job steps (slurmstepd detaches from slurmd) and their tasks are found
 * by this cluster's SLURM_CONF in their environment.
 *
 * Every sbatch/squeue/scancel/srun must get `env` (SLURM_CONF picks this cluster).
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { onExitCleanup } from './exitCleanup.ts';
import { onHostArgv, type Hosts } from './netHosts.ts';
import { fixtureDir, OWNER_VAR, reapStaleFixtures } from './staleFixtures.ts';
import { requireExecutable, requireRoot } from './fixtureRequirements.ts';
import { alive, daemonError, freePorts, killNow, pidsWithEnv, runCommand, startDaemon, stopPids, untilDaemonReady, type CommandResult, type Daemon, type RunOptions } from './fixtureProcesses.ts';
import { eventually } from './poll.ts';

const FIXTURE = 'the SLURM cluster fixture (test/harness/slurmCluster.ts)';

export interface SlurmOptions {
  /** slurmd nodes, named n1, n2, …; default 3. */
  nodes?: number;
  /** CPUs each node declares (more than the machine has is fine); default 4. */
  cpusPerNode?: number;
  /** The one partition, holding every node; default `debug`. */
  partition?: string;
  /** Extra slurm.conf lines, appended before the nodes (e.g. `MinJobAge=5`). */
  extraConf?: readonly string[];
  /** How long the daemons may take to come up; default 30 s. */
  timeoutMs?: number;
}

export interface SlurmJob {
  jobId: string;
  name: string;
  /** squeue's %T: PENDING, RUNNING, COMPLETING, … (CANCELLED, COMPLETED, TIMEOUT with `all`). */
  state: string;
  /** squeue's %r: why it pends or ended (`None` when nothing to say). */
  reason: string;
  /** The nodes it runs on, as squeue writes them (n[1-2]). */
  nodes: string;
}

export interface SlurmCluster {
  /** SLURM_CONF and PATH: add them to the environment of every SLURM command and launcher. */
  env: { SLURM_CONF: string; PATH: string };
  partition: string;
  nodes: string[];
  /** The fixture's folder (slurm.conf, munge, state, logs); removed by stop(). */
  dir: string;
  /**
   * Runs a command (sbatch, srun, …) with this cluster's environment added, where slurmctld is
   * reachable (here, or on the first host), in the fixture's folder unless `cwd` says otherwise.
   */
  run(argv: readonly string[], opts?: RunOptions): Promise<CommandResult>;
  /** The jobs squeue lists (active ones; `all` adds those ended recently), or just `jobId`. */
  squeue(jobId?: string, opts?: { all?: boolean }): Promise<SlurmJob[]>;
  /** The live processes of this cluster: its daemons, job steps and tasks (SLURM_CONF in their environment). */
  pids(): number[];
  /** Cancels every job, shuts the daemons down, stops munged, removes the folder. Idempotent. */
  stop(): Promise<void>;
}

const SBIN = ['/usr/sbin', '/usr/bin', '/sbin', '/bin'];

/** Where the daemons run and how to reach them: the one difference between the two fixtures. */
interface Layout {
  /** slurm.conf lines naming the controller and its ports. */
  controllerConf: string[];
  /** slurm.conf lines declaring the nodes (names, addresses, ports, CPUs). */
  nodeConf: string[];
  nodes: string[];
  ctldArgv: string[];
  slurmdArgv(node: string): string[];
  /** Runs a SLURM client command where it can reach slurmctld. */
  run(argv: readonly string[], opts: RunOptions & { env: NodeJS.ProcessEnv }): Promise<CommandResult>;
}

function commonConf(o: { dir: string; munge: string; partition: string; extra: readonly string[] }, layout: Layout): string {
  return [
    `ClusterName=me${process.pid}`,
    ...layout.controllerConf,
    'AuthType=auth/munge',
    `AuthInfo=socket=${o.munge}`,
    'CredType=cred/munge',
    'SlurmUser=root',
    'SlurmdUser=root',
    `StateSaveLocation=${o.dir}/state`,
    `SlurmdSpoolDir=${o.dir}/spool/%n`,
    `SlurmctldPidFile=${o.dir}/slurmctld.pid`,
    `SlurmdPidFile=${o.dir}/slurmd-%n.pid`,
    `SlurmctldLogFile=${o.dir}/slurmctld.log`,
    `SlurmdLogFile=${o.dir}/slurmd-%n.log`,
    'ProctrackType=proctrack/linuxproc',
    'TaskPlugin=task/none',
    'SelectType=select/cons_tres',
    'SelectTypeParameters=CR_Core',
    'JobAcctGatherType=jobacct_gather/none',
    'AccountingStorageType=accounting_storage/none',
    'MpiDefault=none',
    'MailProg=/bin/true',
    'ReturnToService=2',
    // nodes declare more CPUs than this machine's cores
    'SlurmdParameters=config_overrides',
    // a cancelled job's tasks get SIGKILL 2 s after SIGTERM (30 s by default): tests stay quick
    'KillWait=2',
    ...o.extra,
    ...layout.nodeConf,
    `PartitionName=${o.partition} Nodes=ALL Default=YES MaxTime=INFINITE State=UP`,
    '',
  ].join('\n');
}

function checkInstalled(): void {
  requireRoot(FIXTURE, 'its daemons run as root, the SlurmUser of its slurm.conf');
  for (const [file, pkg] of [
    ['/usr/sbin/munged', 'munge'],
    ['/usr/sbin/slurmctld', 'slurm-wlm'],
    ['/usr/sbin/slurmd', 'slurm-wlm'],
    ['/usr/bin/sbatch', 'slurm-wlm'],
    ['/usr/bin/scontrol', 'slurm-wlm'],
  ] as const) {
    requireExecutable(file, pkg, FIXTURE);
  }
}

function checkOptions(opts: SlurmOptions): { cpus: number; partition: string } {
  const cpus = opts.cpusPerNode ?? 4;
  const partition = opts.partition ?? 'debug';
  if (!Number.isInteger(cpus) || cpus < 1) throw new Error(`cpusPerNode must be a positive integer, got ${cpus}`);
  if (!/^[A-Za-z][\w-]*$/.test(partition)) throw new Error(`partition name ${JSON.stringify(partition)} must be letters, digits, _ and -`);
  return { cpus, partition };
}

/**
 * Starts munged, slurmctld and the slurmd nodes on this machine (all on 127.0.0.1, one port
 * each); throws (after stopping what started) when one cannot start.
 */
export async function startSlurm(opts: SlurmOptions = {}): Promise<SlurmCluster> {
  checkInstalled();
  const nodeCount = opts.nodes ?? 3;
  if (!Number.isInteger(nodeCount) || nodeCount < 1 || nodeCount > 64) throw new Error(`nodes must be an integer from 1 to 64, got ${nodeCount}`);
  const { cpus } = checkOptions(opts);
  const host = os.hostname().split('.')[0];
  const nodes = Array.from({ length: nodeCount }, (_, i) => `n${i + 1}`);
  const [ctldPort, ...nodePorts] = await freePorts(1 + nodeCount);
  return boot(opts, {
    controllerConf: [`SlurmctldHost=${host}(127.0.0.1)`, `SlurmctldPort=${ctldPort}`],
    nodeConf: nodes.map((n, i) => `NodeName=${n} NodeHostname=${host} NodeAddr=127.0.0.1 Port=${nodePorts[i]} CPUs=${cpus} RealMemory=1000 State=UNKNOWN`),
    nodes,
    ctldArgv: ['/usr/sbin/slurmctld', '-D'],
    slurmdArgv: (n) => ['/usr/sbin/slurmd', '-D', '-N', n],
    run: (argv, o) => runCommand(argv, o),
  });
}

/**
 * Starts SLURM across namespace hosts: slurmctld on the first host, one slurmd on each (node
 * names are the host names), munged on this machine (its socket is a file every host sees).
 * Client commands must run inside a host: `run` uses the first one.
 */
export async function startSlurmOnHosts(hosts: Hosts, opts: Omit<SlurmOptions, 'nodes'> = {}): Promise<SlurmCluster> {
  checkInstalled();
  const { cpus } = checkOptions(opts);
  const [first] = hosts.hosts;
  return boot(opts, {
    // each host has its own network, so the usual ports do not clash
    controllerConf: [`SlurmctldHost=${first.name}(${first.address})`, 'SlurmctldPort=6817', 'SlurmdPort=6818'],
    nodeConf: hosts.hosts.map((h) => `NodeName=${h.name} NodeAddr=${h.address} CPUs=${cpus} RealMemory=1000 State=UNKNOWN`),
    nodes: hosts.hosts.map((h) => h.name),
    ctldArgv: onHostArgv(first, ['/usr/sbin/slurmctld', '-D']),
    // nsenter into the host's own mounts keeps this machine's /sys, which slurmd's cgroup plugin reads
    slurmdArgv: (n) => onHostArgv(hosts.host(n), ['/usr/sbin/slurmd', '-D', '-N', n]),
    run: (argv, o) => hosts.exec(first, argv, o),
  });
}

async function boot(opts: SlurmOptions, layout: Layout): Promise<SlurmCluster> {
  const { partition } = checkOptions(opts);
  const timeoutMs = opts.timeoutMs ?? 30_000;
  reapStaleFixtures();
  const dir = fixtureDir('slurm');
  const conf = path.join(dir, 'slurm.conf');
  const pathVar = [...new Set([...(process.env.PATH ?? '').split(':').filter(Boolean), ...SBIN])].join(':');
  const env = { SLURM_CONF: conf, PATH: pathVar };
  // the owner mark lets a later fixture end these daemons and jobs if this process is SIGKILLed
  const fullEnv = { ...process.env, ...env, [OWNER_VAR]: String(process.pid) };
  const { nodes } = layout;
  const daemons: Daemon[] = [];
  let munged: Daemon | undefined;
  let ctld: Daemon | undefined;
  let stopped = false;

  // in the fixture's folder by default, where sbatch writes its slurm-<job>.out files
  const run = (argv: readonly string[], o: RunOptions = {}) => layout.run(argv, { ...o, cwd: o.cwd ?? dir, env: { ...fullEnv, ...o.env } });
  // Daemons, slurmstepd and job tasks all carry this cluster's SLURM_CONF.
  const pids = () => [...new Set([...[munged, ...daemons].flatMap((d) => (d && alive(d.pid) ? [d.pid] : [])), ...pidsWithEnv('SLURM_CONF', conf)])];
  const stopSync = () => {
    killNow(pids());
    fs.rmSync(dir, { recursive: true, force: true });
  };
  const unregister = onExitCleanup(stopSync);

  const stop = async () => {
    if (stopped) return;
    stopped = true;
    if (ctld?.running()) {
      // slurmd leaves running jobs alone when it shuts down: cancel them first.
      const ids = (await run(['squeue', '-h', '-o', '%i'])).stdout.split('\n').filter(Boolean);
      if (ids.length > 0) {
        await run(['scancel', ...ids]);
        await eventually(async () => (await run(['squeue', '-h', '-o', '%i'])).stdout.trim() === '', 10_000);
      }
      await run(['scontrol', 'shutdown']);
      await eventually(() => daemons.every((d) => !d.running()), 10_000);
    }
    const slurmLeft = await stopPids(pids().filter((p) => p !== munged?.pid));
    const mungeLeft = munged ? await stopPids([munged.pid]) : [];
    fs.rmSync(dir, { recursive: true, force: true });
    unregister();
    const left = [...slurmLeft, ...mungeLeft];
    if (left.length > 0) throw new Error(`${FIXTURE}: processes ${left.join(', ')} survived SIGKILL`);
  };

  try {
    for (const sub of ['state', 'spool']) fs.mkdirSync(path.join(dir, sub));
    // munged refuses a socket whose folders others cannot traverse (mkdtemp's 0700 fails): 0711.
    fs.chmodSync(dir, 0o711);
    const mungeDir = path.join(dir, 'munge');
    fs.mkdirSync(mungeDir, { mode: 0o711 });
    fs.chmodSync(mungeDir, 0o711);
    const key = path.join(mungeDir, 'munge.key');
    fs.writeFileSync(key, crypto.randomBytes(1024), { mode: 0o400 });
    const socket = path.join(mungeDir, 'munge.socket');
    const mungeLog = path.join(mungeDir, 'munged.log');
    munged = startDaemon(
      'munged',
      ['/usr/sbin/munged', '-F', `--socket=${socket}`, `--key-file=${key}`, `--pid-file=${mungeDir}/munged.pid`, `--log-file=${mungeLog}`, `--seed-file=${mungeDir}/munged.seed`],
      path.join(mungeDir, 'munged.out'),
      { env: fullEnv },
    );
    await untilDaemonReady(munged, () => fs.existsSync(socket), `no socket at ${socket}`, timeoutMs, mungeLog);

    fs.writeFileSync(conf, commonConf({ dir, munge: socket, partition, extra: opts.extraConf ?? [] }, layout));

    ctld = startDaemon('slurmctld', layout.ctldArgv, path.join(dir, 'slurmctld.out'), { env: fullEnv });
    daemons.push(ctld);
    await untilDaemonReady(ctld, async () => / is UP/.test((await run(['scontrol', 'ping'])).stdout), '`scontrol ping` never said UP', timeoutMs, path.join(dir, 'slurmctld.log'));

    for (const n of nodes) daemons.push(startDaemon(`slurmd ${n}`, layout.slurmdArgv(n), path.join(dir, `slurmd-${n}.out`), { env: fullEnv }));
    const idle = async () => {
      const states = (await run(['sinfo', '-h', '-N', '-o', '%N %T'])).stdout.trim().split('\n');
      return states.length === nodes.length && states.every((l) => l.endsWith(' idle'));
    };
    const ok = await eventually(async () => daemons.some((d) => !d.running()) || (await idle()), timeoutMs);
    const dead = daemons.find((d) => !d.running());
    if (dead || !ok) {
      const d = dead ?? daemons[1];
      const sinfo = (await run(['sinfo', '-N'])).stdout.trim();
      const log = d === ctld ? 'slurmctld.log' : `slurmd-${nodes[daemons.indexOf(d) - 1]}.log`;
      throw daemonError(d, `did not get every node idle within ${timeoutMs} ms; sinfo -N says:\n${sinfo}`, path.join(dir, log));
    }
  } catch (err) {
    await stop().catch(() => {});
    throw err;
  }

  return {
    env,
    partition,
    nodes,
    dir,
    run,
    async squeue(jobId, o = {}) {
      const argv = ['squeue', '-h', '-o', '%i|%j|%T|%r|%N', ...(o.all ? ['--states=all'] : []), ...(jobId === undefined ? [] : ['-j', jobId])];
      const r = await run(argv);
      // a job id squeue no longer knows is an error there; here it is simply not listed
      if (r.code !== 0 && jobId !== undefined && /Invalid job id/i.test(r.stderr)) return [];
      if (r.code !== 0) throw new Error(`\`${argv.join(' ')}\` failed: ${r.stderr.trim()}`);
      return r.stdout
        .split('\n')
        .filter(Boolean)
        .map((l) => {
          const [id, name, state, reason, nodeList] = l.split('|');
          return { jobId: id, name, state, reason, nodes: nodeList };
        });
    },
    pids,
    stop,
  };
}
