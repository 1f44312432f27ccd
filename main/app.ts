/**
 * The services of the app and the router in front of them, shared by both bridges: the
 * Electron window (main/electron/main.ts) and web mode (main/webMain.ts). Nothing here
 * imports electron.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { packageRoot } from '../core/util/entry.js';
import type { ProcessSpawner } from '../core/index.js';
import type { AppInfo, AppSettings } from '../preload/contract.js';
import { EventHub, Router } from './ipc/router.js';
import { readForm } from './services/clusterForm.js';
import { ClusterService } from './services/clusterService.js';
import { nodePtySpawner, PtyService, type PtySpawner } from './services/ptyService.js';
import { SettingsStore } from './services/settings.js';
import { EngineProfileService } from './services/engineProfile.js';
import { languageNames } from '../core/kernels/index.js';

export interface AppOptions {
  /** true in web mode. */
  web: boolean;
  /** Where the settings are remembered (null: not remembered). */
  settingsFile: string | null;
  /** Command-line choices for this run (not remembered). */
  overrides?: Partial<AppSettings>;
  /** Overrides $MULTIENGINE_DIR. */
  dir?: string;
  heartbeatMs?: number;
  deadAfterMs?: number;
  /** Starts the controller; see ClusterConnectionOptions.spawner. */
  clusterSpawner?: ProcessSpawner;
  copyText?: (text: string) => void | Promise<void>;
  openExternal?: (url: string) => void | Promise<void>;
  spawner?: () => Promise<PtySpawner>;
  log?: (line: string) => void;
}

export interface AppServices {
  events: EventHub;
  router: Router;
  cluster: ClusterService;
  pty: PtyService;
  settings: SettingsStore;
  /** Starts the cluster (as the settings say) and the console. */
  start(): Promise<void>;
  /** Stops the console and every process the app started. */
  dispose(): Promise<void>;
}

export function packageVersion(): string {
  try {
    return (JSON.parse(fs.readFileSync(path.join(packageRoot, 'package.json'), 'utf8')) as { version?: string }).version ?? '0.0.0';
  } catch {
    return '0.0.0';
  }
}

/** Where settings live by default: next to the profiles ($MULTIENGINE_DIR or ~/.multiengine). */
export function defaultSettingsFile(dir?: string): string {
  return path.join(dir ?? process.env.MULTIENGINE_DIR ?? path.join(os.homedir(), '.multiengine'), 'app-settings.json');
}

export function createAppServices(opts: AppOptions): AppServices {
  const log = opts.log ?? (() => {});
  const events = new EventHub();
  const settings = new SettingsStore(opts.settingsFile);
  if (opts.overrides) settings.override(opts.overrides);
  const cluster = new ClusterService({ events, settings, dir: opts.dir, heartbeatMs: opts.heartbeatMs, deadAfterMs: opts.deadAfterMs, spawner: opts.clusterSpawner, log, flags: opts.overrides });
  const pty = new PtyService({ events, spawner: opts.spawner ?? nodePtySpawner, log });
  const { connection, namespace: ns } = cluster;
  const profiles = new EngineProfileService(connection);
  // Why the console stops: a shutdown someone else asked for (the bar's `ended`), or what in the app ended the cluster.
  let left: string | null = null;
  connection.onWillEnd((e) => (left = `${e.stops ? 'the cluster was stopped' : 'the app left the cluster'} (${e.why})`));
  connection.onDidChangeConnection((file) => {
    void pty.connect(file, connection.snapshot().ended ?? left);
    left = null;
  });
  const info: AppInfo = { version: packageVersion(), platform: process.platform, hostname: os.hostname(), cpus: os.availableParallelism(), web: opts.web, engineLanguages: [...languageNames] };
  const notHere = (what: string) => () => {
    throw new Error(`${what} is done by the browser in web mode`);
  };

  const router = new Router(
    {
      getAppInfo: () => info,
      copyText: (p) => (opts.copyText ?? notHere('copying'))(p.text),
      openExternal: (p) => (opts.openExternal ?? notHere('opening links'))(p.url),
      getCluster: () => connection.snapshot(),
      startCluster: (p) => connection.startCluster(p),
      stopCluster: () => connection.stopCluster(),
      restartCluster: () => connection.restartCluster(),
      attachCluster: (p) => connection.attachCluster(p),
      addEngines: (p) => cluster.engines.addEngines(p),
      listEngines: () => cluster.table.list(),
      interruptEngines: (p) => cluster.engines.interruptEngines(p.ids),
      restartEngine: (p) => cluster.engines.restartEngine(p.id),
      stopEngine: (p) => cluster.engines.stopEngine(p.id),
      listNamespace: (p) => ns.listNamespace(p.targets),
      pull: (p) => ns.pull(p.name, p.targets),
      push: (p) => ns.push(p),
      scatter: (p) => ns.scatter(p),
      gather: (p) => ns.gather(p.name, p.targets),
      execute: (p) => ns.execute(p.code, p.targets),
      listTasks: () => cluster.tasks.list(),
      getTask: (p) => cluster.clusterTasks.detail(p.id),
      listTaskStream: () => cluster.stream.list(),
      getStreamTask: (p) => cluster.stream.record(p.msgId),
      ptyAttach: () => pty.attach(),
      ptyRestart: () => pty.restart(),
      setPxTargets: (p) => pty.setPxTargets(p.ids),
      getClusterForm: (p) => {
        const s = settings.get();
        return readForm(p.profile, { n: s.engineCount, kind: s.engineKind }, opts.dir);
      },
      startNewCluster: (p) => connection.startNewCluster(p),
      listEngineSets: () => cluster.sets.list(),
      stopEngineSet: (p) => cluster.sets.stop(connection.client(), p.set),
      engineSetOutput: (p) => cluster.sets.output(connection.client(), p.set),
      // monitor: plots, logs, events
      getMetricsHistory: () => cluster.monitor.metrics.history(),
      searchLogs: (p) => cluster.monitor.logs.search(p),
      listClusterEvents: () => cluster.monitor.events.list.list(),
      engineStack: (p) => profiles.stack(p.id),
      engineProfile: (p) => profiles.profile(p.id, p.seconds),
    },
    {
      ptyWrite: (p) => pty.write(p.data),
      ptyResize: (p) => pty.resize(p.cols, p.rows),
      ptyAck: (p) => pty.ack(p.chars),
    },
    log,
  );

  let disposing: Promise<void> | null = null;
  return {
    events,
    router,
    cluster,
    pty,
    settings,
    async start() {
      await connection.start();
    },
    dispose() {
      disposing ??= (async () => {
        pty.dispose();
        await cluster.dispose();
      })();
      return disposing;
    },
  };
}
