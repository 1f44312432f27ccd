/**
 * One fixture for integration tests: a real controller and real engines in a private
 * MULTIENGINE_DIR, with fast heartbeats, torn down with checks that nothing is left.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Cluster, type Client, type ClusterOptions } from 'multiengine';

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
