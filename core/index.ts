/** multiengine: the public API. `import { Cluster, Client } from 'multiengine'`. */
export * from './client/index.js';
export { Cluster, ClusterError, type ClusterOptions, type ControllerEvent } from './cluster/cluster.js';
export { NodeSpawner, type ProcessExit, type ProcessSpawner, type ProcessSpec, type ProcessState, type SpawnedProcess } from './launch/spawner.js';
export { connectionFilePath, readConnectionFile, type ConnectionInfo } from './connection/connectionFile.js';
export type { EngineInfo, EngineSetInfo, EngineSetState, EngineState, KernelKind, ListenAddress, QueueCounts, TaskDbStatus, TaskEvent, TaskEventKind, TaskEventOverflow, TaskField, TaskFilter, TaskRecord, TaskStatus } from './protocol/messages.js';
export type { EngineSetContext, EngineSetLauncher, LauncherPlugin, LauncherState, LauncherStatus } from './launch/launcher.js';
export { LauncherError } from './launch/launcher.js';
