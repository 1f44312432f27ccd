/** The app's words for a cluster that was shut down (core's `wasShutDown` tells a shutdown from a lost controller). */

/** What the app says of its own cluster whose controller exited 0 (Cluster.onDidShutDown), and of an attached one that shut down. */
export function shutDownMessage(how: { attached: boolean; profile: string; pid: number | null }): string {
  const pid = how.pid ? `, pid ${how.pid},` : '';
  return how.attached
    ? `the cluster of profile "${how.profile}" was shut down: its controller${pid} exited and removed its connection file`
    : `the cluster was shut down on request: its controller${pid} stopped its engines and exited`;
}
