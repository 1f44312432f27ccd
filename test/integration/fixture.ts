/**
 * One fixture for integration tests: a real controller and real engines in a private
 * MULTIENGINE_DIR, with fast heartbeats, torn down with checks that nothing is left; and
 * waits on what the controller's status says, for tests that must act at a known moment.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Cluster, type Client, type ClusterOptions, type EngineInfo } from 'multiengine';
import { until } from '../harness/poll.ts';

export interface TestCluster {
  cluster: Cluster;
  rc: Client;
  dir: string;
  stop(): Promise<void>;
}

export async function startTestCluster(opts: ClusterOptions = {}): Promise<TestCluster> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'multiengine-test-'));
  const cluster = await Cluster.start({ n: 4, dir, profile: 'test', heartbeatMs: 100, deadAfterMs: 1500, ...opts });
  const rc = await cluster.connect();
  return {
    cluster,
    rc,
    dir,
    async stop() {
      rc.close();
      await cluster.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

export { eventually, sleep, until } from '../harness/poll.ts';

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
 * Polls until the controller has request `msgId` on engine `id`, running it. For a request
 * quicker than a poll, pass `doneBefore`, the engine's `tasks_done` read once its earlier work
 * was counted: more answered than that counts as reached too. (Without it the count is not
 * looked at: an earlier request's count, which a direct engine reports a little later, would
 * pass for this one.)
 */
export async function untilReached(rc: Client, id: number, msgId: string, doneBefore?: number): Promise<void> {
  await until(
    async () => {
      const e = await engineInfo(rc, id);
      return e.current_task?.msg_id === msgId || (doneBefore !== undefined && (e.tasks_done ?? 0) > doneBefore);
    },
    5000,
    `engine ${id} to get request ${msgId}`,
  );
}

/** Polls until the controller has exactly `n` clients connected (it noticed one leave). */
export async function untilClients(rc: Client, n: number): Promise<void> {
  await until(async () => (await rc.status()).clients === n, 5000, `${n} client(s) connected`);
}
