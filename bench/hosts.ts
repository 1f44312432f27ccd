/**
 * `npm run bench -- --hosts`: the round trip and the 128 MiB push/pull with the engine on another
 * host, beside the TCP limit of the same link measured in the same run. Two hosts made of network
 * namespaces (test/harness/netHosts.ts): a LINK_PEER on host B, and bench/hostsDriver.ts inside
 * host A (controller, client, link measurement), which puts one engine on host B through the ssh
 * launcher. Needs root and sshd (the fixture says what is missing).
 */
import readline from 'node:readline';
import { REPO_ROOT, startHosts } from '../test/harness/netHosts.ts';
import { LINK_PEER, peerPort } from './loopback.ts';
import type { BenchKind, BenchOptions } from './scenarios.ts';
import type { Figure } from './stats.ts';

export async function hostsScenarios(kinds: readonly BenchKind[], o: BenchOptions): Promise<void> {
  const hosts = await startHosts({ names: ['hosta', 'hostb'] });
  try {
    const [a, b] = hosts.hosts;
    const peer = hosts.spawnOn(b, [process.execPath, '-e', LINK_PEER, b.address]);
    peer.stderr!.pipe(process.stderr);
    const port = await peerPort(peer);
    const args = { ip: a.address, peer: { host: b.address, port }, otherHost: b.name, sshConfig: hosts.sshConfig, kinds, quick: o.quick };
    const driver = hosts.spawnOn(a, [process.execPath, '--import', 'tsx', 'bench/hostsDriver.ts', JSON.stringify(args)], { cwd: REPO_ROOT });
    const exited = new Promise<string>((r) => driver.once('exit', (code, signal) => r(signal ?? `exit ${code}`)));
    driver.stdin!.end();
    driver.stderr!.pipe(process.stderr);
    for await (const line of readline.createInterface({ input: driver.stdout! })) {
      if (line.startsWith('{')) o.emit(JSON.parse(line) as Figure);
      else if (line.trim()) console.error(`hostsDriver: ${line}`);
    }
    const how = await exited;
    if (how !== 'exit 0') throw new Error(`bench/hostsDriver.ts on ${a.name} ended with ${how} (its errors are above)`);
  } finally {
    await hosts.stop();
  }
}
