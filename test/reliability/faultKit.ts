/**
 * Helpers for the fault tests: process liveness and memory by pid, polling, signals, and a raw
 * client (a Peer: test/harness/peer.ts) that can stop reading to play a slow client.
 */
import type { Client, EngineInfo } from 'multiengine';
import { until } from '../harness/poll.ts';
export { isAlive, rssKB } from '../../core/util/processes.ts';
export { connectClient, Peer } from '../harness/peer.ts';
export { eventually, sleep, startTestCluster, until } from '../integration/fixture.ts';

/** Sends a signal to a pid we started, ignoring "already gone". */
export function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    /* already gone */
  }
}

/** Engine `id` as the controller's status reports it. */
export async function engineInfo(rc: Client, id: number): Promise<EngineInfo> {
  const e = (await rc.status()).engines.find((x) => x.id === id);
  if (!e) throw new Error(`no engine ${id} in the controller's status`);
  return e;
}

/** Polls until the controller counts more than `done` tasks answered by engine `id`. */
export async function untilTasksDone(rc: Client, id: number, done: number): Promise<void> {
  await until(async () => ((await engineInfo(rc, id)).tasks_done ?? 0) > done, 5000, `engine ${id} to answer more than ${done} tasks`);
}

/**
 * Polls until the controller has request `msgId` on engine `id`: running it, or (for a request
 * quicker than a poll) answered more than `doneBefore` tasks since.
 */
export async function untilReached(rc: Client, id: number, msgId: string, doneBefore = 0): Promise<void> {
  await until(
    async () => {
      const e = await engineInfo(rc, id);
      return e.current_task?.msg_id === msgId || (e.tasks_done ?? 0) > doneBefore;
    },
    5000,
    `engine ${id} to get request ${msgId}`,
  );
}

/** Polls until the controller has exactly `n` clients connected (it noticed one leave). */
export async function untilClients(rc: Client, n: number): Promise<void> {
  await until(async () => (await rc.status()).clients === n, 5000, `${n} client(s) connected`);
}
