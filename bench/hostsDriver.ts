/**
 * Host A's side of `npm run bench -- --hosts`, started inside host A by bench/hosts.ts (the root
 * namespace cannot reach the hosts' addresses). Measures the TCP limit of the link to a
 * LINK_PEER on host B, then per engine kind starts a controller listening on host A's address
 * with one engine on host A (local) and one on host B (the ssh launcher), and measures the `apply`
 * round trip and the 128 MiB push/pull on each.
 * Prints one JSON figure per line.
 *
 *   node --import tsx bench/hostsDriver.ts '{"ip":…,"peer":{…},"otherHost":…,"sshConfig":…,"kinds":[…],"quick":false}'
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Cluster, type Client } from 'multiengine';
import { mpiPython } from '../test/harness/mpi.ts';
import { measureLink } from './loopback.ts';
import { applyRoundTrips, pushPullRates, type BenchKind, type BenchOptions } from './scenarios.ts';
import { figure } from './stats.ts';

export interface HostsDriverArgs {
  /** Host A's address: the controller listens there. */
  ip: string;
  /** The LINK_PEER on host B. */
  peer: { host: string; port: number };
  /** Host B's name and the ssh_config that reaches it. */
  otherHost: string;
  sshConfig: string;
  kinds: BenchKind[];
  quick: boolean;
}

/** The engine's host name, asked of the engine itself. */
const HOSTNAME = { node: '() => require("os").hostname()', python: 'lambda: __import__("socket").gethostname()' } as const;

const args = JSON.parse(process.argv[2] ?? '') as HostsDriverArgs;
const o: BenchOptions = { quick: args.quick, emit: (f) => console.log(JSON.stringify(f)) };
const bytes = (args.quick ? 16 : 128) * 2 ** 20;
for (const f of await measureLink(args.peer.host, args.peer.port, bytes, args.quick ? 200 : 1000, args.quick ? 2 : 5, 'link')) o.emit(f);

/** Round trip and transfers on engine `id`, after checking it runs on `host` and is reached directly. */
async function measureEngine(rc: Client, kind: BenchKind, id: number, host: string, prefix: string): Promise<void> {
  const one = rc.view(id);
  const where = await one.applySync(HOSTNAME[kind]);
  if (where !== host) throw new Error(`engine ${id} should run on ${host}, but its hostname is ${JSON.stringify(where)}`);
  const rtt = await applyRoundTrips(one, kind, o);
  // A figure measured through the controller would not be the one this scenario names.
  if (!rc.directEngines.includes(id)) throw new Error(`the client does not reach engine ${id} on ${host} directly (direct engines: ${rc.directEngines.join(', ') || 'none'})`);
  o.emit(figure(`${prefix}_apply_rtt_1`, kind, 1, 'us', rtt));
  const { push, pull } = await pushPullRates(one, o);
  o.emit(figure(`${prefix}_push_128MiB`, kind, 1, 'MB/s', push));
  o.emit(figure(`${prefix}_pull_128MiB`, kind, 1, 'MB/s', pull));
  await one.execute(kind === 'python' ? 'del a' : 'a = null', { block: true });
}

for (const kind of args.kinds) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'multiengine-bench-hosts-'));
  // Debian's python on both hosts (the remote shell on host B has no pyenv on its PATH).
  const cluster = await Cluster.start({ n: 1, engine: kind, python: mpiPython, dir, profile: 'bench', ip: args.ip });
  try {
    const [remote] = await cluster.addEngines(1, {
      engine: kind,
      launcher: 'ssh',
      launcherOptions: { hosts: { [args.otherHost]: 1 }, sshArgs: ['-F', args.sshConfig] },
      timeoutMs: 60_000,
    });
    const rc = await cluster.connect();
    try {
      await measureEngine(rc, kind, remote, args.otherHost, 'other_host');
      await measureEngine(rc, kind, 0, os.hostname(), 'same_host');
    } finally {
      rc.close();
    }
  } finally {
    await cluster.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
