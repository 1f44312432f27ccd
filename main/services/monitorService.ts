/**
 * The dashboard's services together: CPU and memory history (Plots), engine and controller
 * output (Logs) and the cluster's timeline (Events). ClusterService hands it the cluster it
 * connects to; it needs nothing else of the app.
 */
import path from 'node:path';
import { controllerLogPath } from '../../core/controller/logFile.js';
import { NodeSpawner, type Client, type Cluster, type ProcessSpawner } from '../../core/index.js';
import type { EngineSet } from '../../preload/contract.js';
import type { EventSink } from '../ipc/router.js';
import type { ClusterEnd } from './clusterConnection.js';
import { ClusterEvents } from './clusterEvents.js';
import { EngineLogs, tapStderr } from './engineLogs.js';
import type { EngineTable } from './engineTable.js';
import { MetricsHistoryService } from './metricsHistory.js';

export class MonitorService {
  readonly metrics: MetricsHistoryService;
  readonly logs: EngineLogs;
  readonly events: ClusterEvents;

  constructor(sink: EventSink, table: EngineTable) {
    this.metrics = new MetricsHistoryService(sink, () =>
      table
        .engineRows()
        .filter((r) => r.state !== 'dead')
        .map((r) => ({ id: r.id, cpu: r.cpu, rss: r.rss }))
        .sort((a, b) => a.id - b.id),
    );
    this.logs = new EngineLogs(sink);
    this.events = new ClusterEvents(sink);
  }

  /** The spawner the app starts its controller with, tapped so the Logs view reads the controller's stderr. */
  controllerSpawner(inner: ProcessSpawner | undefined): ProcessSpawner {
    return tapStderr(inner ?? new NodeSpawner(), () => this.logs.controllerStderr());
  }

  /** Follows a cluster the app connected to (its Cluster when the app started it), or none. */
  follow(rc: Client | null, cluster: Cluster | null): void {
    this.events.follow(rc, cluster);
    this.logs.follow(rc);
    // A controller started elsewhere: its log is its file, in the profile folder of its connection file (<profile>/security/).
    this.logs.followLogFile(rc && !cluster ? controllerLogPath(path.dirname(path.dirname(rc.connectionFile))) : null);
    if (rc) this.metrics.start();
    else this.metrics.stop();
  }

  /** The app ends its connection to the cluster it follows: the Events list says so. */
  ended(e: ClusterEnd): void {
    this.events.ended(e);
  }

  observeSets(sets: readonly EngineSet[]): void {
    this.events.observeSets(sets);
  }

  dispose(): void {
    this.metrics.stop();
    this.logs.dispose();
    this.events.dispose();
  }
}
