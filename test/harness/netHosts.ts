/**
 * "Hosts" made of Linux namespaces on this machine, for the ssh, mpi and slurm launcher tests:
 * a switch namespace with a bridge, one network namespace per host with its own address in a
 * private /24, and on each host an sshd in its own hostname (uts) and mount namespace (a private
 * /run, an /etc/hosts listing every host). Commands run on a host with nsenter into its sshd.
 *
 * The test process lives in the root namespace, which cannot reach the hosts' addresses (and in
 * this sandbox a connect may even appear to succeed): run drivers inside a host (runNodeOn).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { onExitCleanup } from './exitCleanup.ts';
import { requireExecutable, requireRoot } from './fixtureRequirements.ts';
import { fixtureDir, namespacePrefix, OWNER_VAR, reapStaleFixtures } from './staleFixtures.ts';
import { collect, daemonError, describeEnd, killNow, netnsOf, pidsInNetns, runChecked, startDaemon, stopPids, untilDaemonReady, type CommandResult, type Daemon, type RunOptions } from './fixtureProcesses.ts';

const FIXTURE = 'the network-namespace hosts fixture (test/harness/netHosts.ts)';
const SSH_PORT = 2222;
/** This repository, the default working directory of runNodeOn (so `--import tsx` resolves). */
export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export interface Host {
  name: string;
  address: string;
  /** The host's anchor process: commands enter its namespaces. */
  sshdPid: number;
  /** The host's network namespace as /proc/<pid>/ns/net names it (`net:[inode]`). */
  netns: string;
  /** Its name under /run/netns (for `ip -n`, `nsenter --net=/run/netns/<name>`). */
  netnsName: string;
}

export type HostRef = Host | string;

export interface HostsOptions {
  names: readonly string[];
  /** A private /24 written `a.b.c.0/24`; the hosts get .11, .12, … It exists only inside the namespaces. */
  subnet?: string;
}

export interface Hosts {
  hosts: Host[];
  /** ssh_config for every host (port, key, batch mode, no host-key checks): `ssh -F <sshConfig> hostb`. */
  sshConfig: string;
  /** The fixture's folder (keys, configs, logs); removed by stop(). */
  dir: string;
  host(ref: HostRef): Host;
  /** Runs argv on the host (its network, hostname and mounts) to completion. */
  exec(host: HostRef, argv: readonly string[], opts?: RunOptions): Promise<CommandResult>;
  /** Starts argv on the host and returns it; stop() ends it if it still runs. */
  spawnOn(host: HostRef, argv: readonly string[], opts?: { env?: NodeJS.ProcessEnv; cwd?: string }): ChildProcess;
  /**
   * Runs a TypeScript or JavaScript module with this node and tsx on the host; resolves with
   * the last line of its stdout parsed as JSON, or rejects with its exit and stderr.
   */
  runNodeOn(host: HostRef, modulePath: string, args?: readonly string[], opts?: RunOptions): Promise<unknown>;
  /** The live processes in the host's network namespace (its sshd included). */
  pidsOn(host: HostRef): number[];
  /** Kills everything in the hosts' namespaces by pid, deletes the namespaces and the folder. Idempotent. */
  stop(): Promise<void>;
}

let instances = 0;

function parseSubnet(subnet: string): string {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.0\/24$/.exec(subnet);
  if (!m || m.slice(1).some((o) => Number(o) > 255)) throw new Error(`subnet must look like 10.231.77.0/24, got ${JSON.stringify(subnet)}`);
  return `${m[1]}.${m[2]}.${m[3]}`;
}

function checkNames(names: readonly string[]): void {
  if (names.length === 0 || names.length > 200) throw new Error(`startHosts needs 1 to 200 host names, got ${names.length}`);
  for (const n of names) {
    if (!/^[a-z][a-z0-9-]{0,30}$/.test(n)) throw new Error(`host name ${JSON.stringify(n)} must be lower-case letters, digits and dashes, starting with a letter`);
  }
  const dup = names.find((n, i) => names.indexOf(n) !== i);
  if (dup) throw new Error(`host name ${dup} is given twice`);
}

function sshdConfig(dir: string): string {
  return [
    `Port ${SSH_PORT}`,
    `HostKey ${dir}/hostkey`,
    `AuthorizedKeysFile ${dir}/authorized_keys`,
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    'PermitRootLogin prohibit-password',
    'UsePAM no',
    'StrictModes no', // the keys live under /tmp
    'PidFile none',
    'UseDNS no',
    'PrintMotd no',
    // launchers open many sessions at once (mpiexec's orteds, one ssh per engine)
    'MaxStartups 200',
    'MaxSessions 200',
    '',
  ].join('\n');
}

function sshConfigText(dir: string): string {
  return [
    'Host *',
    `  Port ${SSH_PORT}`,
    '  User root',
    `  IdentityFile ${dir}/id`,
    '  IdentitiesOnly yes',
    '  BatchMode yes',
    '  StrictHostKeyChecking no',
    '  UserKnownHostsFile /dev/null',
    '  LogLevel ERROR',
    '  ConnectTimeout 10',
    '',
  ].join('\n');
}

// The host's anchor: enter the network namespace, take a new uts and mount namespace, set the
// hostname, a private /run (sshd needs /run/sshd) and our /etc/hosts, then become sshd.
const HOST_SCRIPT = 'set -e; hostname "$1"; mount -t tmpfs -o mode=755 tmpfs /run; mkdir -m 755 /run/sshd; mount --bind "$2" /etc/hosts; exec /usr/sbin/sshd -D -f "$3" -E "$4"';

/** Starts the hosts; throws (after undoing what it did) when anything is missing or fails. */
export async function startHosts(opts: HostsOptions): Promise<Hosts> {
  requireRoot(FIXTURE, 'it creates network namespaces, mounts and an sshd per host');
  for (const [file, pkg] of [
    ['/usr/sbin/sshd', 'openssh-server'],
    ['/usr/bin/ssh', 'openssh-client'],
    ['/usr/bin/ssh-keygen', 'openssh-client'],
    ['/usr/bin/nsenter', 'util-linux'],
    ['/usr/bin/unshare', 'util-linux'],
    ['/usr/sbin/ip', 'iproute2'],
  ] as const) {
    requireExecutable(file, pkg, FIXTURE);
  }
  const names = [...opts.names];
  checkNames(names);
  const net = parseSubnet(opts.subnet ?? '10.231.77.0/24');

  reapStaleFixtures();
  const dir = fixtureDir('hosts');
  const tag = namespacePrefix(++instances);
  const switchNs = `${tag}-sw`;
  const nsNames = names.map((n) => `${tag}-${n}`);
  const hosts: Host[] = [];
  const daemons: Daemon[] = [];
  const spawned = new Set<ChildProcess>();
  /** The hosts' namespaces as /proc names them, known as soon as they exist (for the sweeps). */
  const netnsIds: string[] = [];
  let nsCreated = false;
  let stopped = false;

  const ourPids = () => [...[...spawned].flatMap((c) => (c.pid === undefined || c.exitCode !== null ? [] : [c.pid])), ...daemons.map((d) => d.pid), ...pidsInNetns(netnsIds)];
  const stopSync = () => {
    killNow(ourPids());
    if (nsCreated) deleteNamespacesSync([switchNs, ...nsNames]);
    fs.rmSync(dir, { recursive: true, force: true });
  };
  const unregister = onExitCleanup(stopSync);

  const stop = async () => {
    if (stopped) return;
    stopped = true;
    // Everything in the hosts' namespaces: sshd, its sessions, whatever they or spawnOn started.
    const left = await stopPids([...new Set(ourPids())]);
    if (nsCreated) await runChecked(['ip', '-b', '-'], { input: [switchNs, ...nsNames].map((n) => `netns del ${n}\n`).join('') }).catch(() => deleteNamespacesSync([switchNs, ...nsNames]));
    fs.rmSync(dir, { recursive: true, force: true });
    unregister();
    if (left.length > 0) throw new Error(`${FIXTURE}: processes ${left.join(', ')} survived SIGKILL`);
  };

  try {
    fs.writeFileSync(path.join(dir, 'hosts'), ['127.0.0.1 localhost', ...names.map((n, i) => `${net}.${11 + i} ${n}`), ''].join('\n'));
    fs.writeFileSync(path.join(dir, 'sshd_config'), sshdConfig(dir));
    fs.writeFileSync(path.join(dir, 'ssh_config'), sshConfigText(dir));
    const keygen = (f: string) => runChecked(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-C', tag, '-f', path.join(dir, f)]);
    await Promise.all([keygen('hostkey'), keygen('id')]);
    fs.copyFileSync(path.join(dir, 'id.pub'), path.join(dir, 'authorized_keys'));

    nsCreated = true;
    await runChecked(['ip', '-b', '-'], { input: [switchNs, ...nsNames].map((n) => `netns add ${n}\n`).join('') });
    for (const n of nsNames) netnsIds.push(`net:[${fs.statSync(`/run/netns/${n}`).ino}]`);
    await runChecked(['ip', '-n', switchNs, '-b', '-'], { input: 'link set lo up\nlink add br0 type bridge\nlink set br0 up\n' });
    await Promise.all(
      nsNames.map((ns, i) =>
        runChecked(['ip', '-n', ns, '-b', '-'], {
          input: `link set lo up\nlink add eth0 type veth peer name v${i} netns ${switchNs}\naddr add ${net}.${11 + i}/24 dev eth0\nlink set eth0 up\n`,
        }),
      ),
    );
    await runChecked(['ip', '-n', switchNs, '-b', '-'], { input: nsNames.map((_, i) => `link set v${i} master br0\nlink set v${i} up\n`).join('') });

    names.forEach((name, i) => {
      const log = path.join(dir, `sshd-${name}.log`);
      const argv = ['nsenter', `--net=/run/netns/${nsNames[i]}`, 'unshare', '--uts', '--mount', '--propagation', 'private', '/bin/sh', '-c', HOST_SCRIPT, 'sh', name, path.join(dir, 'hosts'), path.join(dir, 'sshd_config'), log];
      daemons.push(startDaemon(`sshd of host ${name}`, argv, log, { env: { ...process.env, [OWNER_VAR]: String(process.pid) } }));
    });
    // nsenter, unshare and sh each exec the next, so the pid we hold becomes sshd's.
    await Promise.all(daemons.map((d) => untilDaemonReady(d, () => fs.readFileSync(d.log, 'utf8').includes('Server listening'), 'no "Server listening" in its log')));
    names.forEach((name, i) => {
      if (netnsOf(daemons[i].pid) !== netnsIds[i]) throw daemonError(daemons[i], `is not in network namespace ${nsNames[i]}`);
      hosts.push({ name, address: `${net}.${11 + i}`, sshdPid: daemons[i].pid, netns: netnsIds[i], netnsName: nsNames[i] });
    });
  } catch (err) {
    await stop().catch(() => {});
    throw err;
  }

  const host = (ref: HostRef): Host => {
    const h = typeof ref === 'string' ? hosts.find((x) => x.name === ref) : ref;
    if (!h || !hosts.includes(h)) throw new Error(`no host ${typeof ref === 'string' ? ref : ref.name} in this fixture (hosts: ${names.join(', ')})`);
    return h;
  };
  const spawnOn = (ref: HostRef, argv: readonly string[], o: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): ChildProcess => {
    if (stopped) throw new Error(`${FIXTURE} is stopped`);
    const full = onHostArgv(host(ref), argv, path.resolve(o.cwd ?? process.cwd()));
    const child = spawn(full[0], full.slice(1), { env: o.env ?? process.env, stdio: ['pipe', 'pipe', 'pipe'] });
    spawned.add(child);
    child.on('exit', () => spawned.delete(child));
    return child;
  };

  return {
    hosts,
    sshConfig: path.join(dir, 'ssh_config'),
    dir,
    host,
    exec: async (ref, argv, o = {}) => collect(spawnOn(ref, argv, o), o),
    spawnOn,
    async runNodeOn(ref, modulePath, args = [], o = {}) {
      const file = path.resolve(REPO_ROOT, modulePath);
      const ro = { timeoutMs: 60_000, ...o };
      const r = await collect(spawnOn(ref, [process.execPath, '--import', 'tsx', file, ...args], { env: o.env, cwd: o.cwd ?? REPO_ROOT }), ro);
      const where = `${path.relative(REPO_ROOT, file)} on ${host(ref).name}`;
      if (r.code !== 0) throw new Error(`${where} failed (${describeEnd(r, ro)}): ${r.stderr.trim() || r.stdout.trim()}`);
      const last = r.stdout.trimEnd().split('\n').pop() ?? '';
      try {
        return JSON.parse(last) as unknown;
      } catch {
        throw new Error(`${where} must print JSON on its last line of stdout, it printed ${JSON.stringify(last)} (stderr: ${r.stderr.trim()})`);
      }
    },
    pidsOn: (ref) => pidsInNetns([host(ref).netns]),
    stop,
  };
}

/**
 * argv run inside `host` (its network, hostname and mounts) in folder `cwd`. Entering the mount
 * namespace would reset the working directory to /, hence --wd (the hosts share this machine's
 * filesystem, so the path is the same there).
 */
export function onHostArgv(host: Host, argv: readonly string[], cwd = '/'): string[] {
  return ['nsenter', '-t', String(host.sshdPid), '-n', '-u', '-m', `--wd=${cwd}`, '--', ...argv];
}

/** Synchronous on purpose: this also runs from the exit hook. */
function deleteNamespacesSync(names: readonly string[]): void {
  for (const n of names) {
    if (fs.existsSync(`/run/netns/${n}`)) spawnSync('ip', ['netns', 'del', n], { stdio: 'ignore' });
  }
}
