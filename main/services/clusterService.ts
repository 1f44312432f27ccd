/**
 * The cluster side of the app, put together: the connection lifecycle (start, attach, stop,
 * restart, the new-cluster form), the engine table and the engine sets the renderer shows,
 * the actions on engines, and the namespace operations of the inspectors with their task
 * history. Each part lives in its own module; this one only wires them.
 */
import type { EventSink } from '../ipc/router.js';
import { ClusterConnection, type ClusterConnectionOptions } from './clusterConnection.js';
import { EngineActions } from './engineActions.js';
import { EngineSetList } from './engineSetList.js';
import { EngineTable } from './engineTable.js';
import { NamespaceOps } from './namespaceOps.js';
import { ClusterTasks } from './clusterTasks.js';
import { MonitorService } from './monitorService.js';
import { TaskLog } from './taskLog.js';
import { TaskStreamFeed } from './taskStream.js';

export type ClusterServiceOptions = ClusterConnectionOptions & { events: EventSink };

export class ClusterService {
  readonly table: EngineTable;
  readonly sets: EngineSetList;
  readonly connection: ClusterConnection;
  readonly engines: EngineActions;
  readonly namespace: NamespaceOps;
  readonly tasks: TaskLog;
  /** Other clients' requests in the task history. */
  readonly clusterTasks: ClusterTasks;
  /** The dashboard: plots, logs, events. */
  readonly monitor: MonitorService;
  /** Every client's task events for the task stream and progress. */
  readonly stream: TaskStreamFeed;

  constructor(opts: ClusterServiceOptions) {
    this.tasks = new TaskLog((t) => opts.events.emit('onTaskChanged', t));
    this.table = new EngineTable(opts.events);
    this.sets = new EngineSetList(opts.events, opts.log);
    this.monitor = new MonitorService(opts.events, this.table);
    this.connection = new ClusterConnection({ ...opts, spawner: this.monitor.controllerSpawner(opts.spawner) }, this.table, this.sets);
    this.engines = new EngineActions(this.connection, this.table);
    this.namespace = new NamespaceOps(this.connection, this.table, this.tasks);
    // What the engines report reaches the task history and the renderer's namespace browser.
    this.table.onDidStartRequest((msgId) => this.tasks.started(msgId));
    this.table.onDidChangeNamespaces((ids) => opts.events.emit('onNamespacesChanged', { engines: ids }));
    this.clusterTasks = new ClusterTasks(this.tasks, opts.log);
    this.stream = new TaskStreamFeed(opts.events, opts.log);
    this.connection.onDidChangeConnection((file) => {
      const rc = file === null ? null : this.connection.client();
      this.clusterTasks.follow(rc);
      this.stream.follow(rc);
      this.monitor.follow(rc, file === null ? null : this.connection.ownCluster);
    });
    this.sets.onDidChangeSets((sets) => this.monitor.observeSets(sets));
    this.connection.onWillEnd((e) => this.monitor.ended(e));
  }

  async dispose(): Promise<void> {
    this.stream.dispose();
    await this.connection.dispose();
    this.monitor.dispose();
    this.table.dispose();
    this.sets.dispose();
  }
}
