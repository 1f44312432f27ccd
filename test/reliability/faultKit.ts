/**
 * Helpers for the fault tests: process liveness and memory by pid, polling, signals, and a raw
 * client (a Peer: test/harness/peer.ts) that can stop reading to play a slow client.
 */
export { isAlive, rssKB } from '../../core/util/processes.ts';
export { connectClient, Peer } from '../harness/peer.ts';
export { engineInfo, eventually, sleep, startTestCluster, until, untilClients, untilReached, untilTasksDone } from '../integration/fixture.ts';

/** Sends a signal to a pid we started, ignoring "already gone". */
export function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    /* already gone */
  }
}

