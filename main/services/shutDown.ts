/**
 * Telling a cluster that was shut down from one that was lost. A controller that shuts down
 * (a client's controller_shutdown_request, `multiengine stop`, SIGTERM) removes its connection
 * files before it closes its connections; one that crashes leaves them for its restart. So a
 * connection closed for good whose file is gone was a shutdown, not a failure.
 */
import fs from 'node:fs';
import type { Client } from '../../core/index.js';

export function wasShutDown(rc: Client): boolean {
  return rc.isClosed && !fs.existsSync(rc.connectionFile);
}

/** What the app says of its own cluster whose controller exited 0 (Cluster.onDidShutDown), and of an attached one that shut down. */
export function shutDownMessage(how: { attached: boolean; profile: string; pid: number | null }): string {
  const pid = how.pid ? `, pid ${how.pid},` : '';
  return how.attached
    ? `the cluster of profile "${how.profile}" was shut down: its controller${pid} exited and removed its connection file`
    : `the cluster was shut down on request: its controller${pid} stopped its engines and exited`;
}
