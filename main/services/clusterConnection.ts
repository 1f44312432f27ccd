/**
 * The connection lifecycle: start a local cluster (the app owns its controller) or attach to
 * a running one, stop, restart, and the snapshot the renderer shows. Operations run one at a
 * time. Nothing running is torn down before the new target is known to work, and only a
 * choice that worked is remembered in the settings.
 */
import fs from 'node:fs';
import { Client, Cluster, connectionFilePath, wasShutDown, type EngineSetOptions, type ProcessSpawner, type StatusReport } from '../../core/index.js';
import { Emitter, type Disposable } from '../../core/events/emitter.js';
import { describeEngineGroups, type AppSettings, type ClusterForm, type ClusterSnapshot, type EnginesPayload } from '../../preload/contract.js';
import type { EventSink } from '../ipc/router.js';
import { growOptions, planOf, readProfileSettings, saveForm, type ClusterPlan } from './clusterForm.js';
import { EngineMonitor } from './engineMonitor.js';
import { balancingOf, sameBalancing } from './loadBalancing.js';
import type { EngineSetList } from './engineSetList.js';
import { groupsOf, type EngineTable } from './engineTable.js';
import type { SettingsStore } from './settings.js';
import { shutDownMessage } from './shutDown.js';
import { UserError } from './userError.js';

/** How long an attach waits for the controller to answer. */
const ATTACH_TIMEOUT_MS = 5000;

export interface ClusterConnectionOptions {
  events: EventSink;
  settings: SettingsStore;
  /** Overrides $MULTIENGINE_DIR for the cluster's connection files. */
  dir?: string;
  heartbeatMs?: number;
  deadAfterMs?: number;
  /** Starts the controller (and its restarts); Electron passes one that runs it as plain node. Default: core's NodeSpawner. */
  spawner?: ProcessSpawner;
  log?: (line: string) => void;
  /** Choices made on the command line for this run: they win over the profile's cluster.json. */
  flags?: Partial<AppSettings>;
}

/** Something in the app ended the connection to a cluster (ClusterConnection.onWillEnd). */
export interface ClusterEnd {
  profile: string;
  controllerPid: number | null;
  /** Engines running when it ended. */
  engines: number;
  /** The app started this cluster (so it stops it). */
  own: boolean;
  /** The cluster stops: the app's own, or an attached one asked to shut down. */
  stops: boolean;
  /** What in the app ended it ("Stop in the app", "a new cluster was started in its place"). */
  why: string;
}

/** What to bring up: a cluster the app starts (its controller here, engines through the plan's launcher), or the running cluster of a profile. */
type Target = { attach: false; profile: string; plan: ClusterPlan } | { attach: true; profile: string; rc?: Client };

function describePlan(plan: ClusterPlan): string {
  const engines = describeEngineGroups(plan.groups);
  return plan.launcher === 'local' ? `a local cluster of ${engines}` : `a cluster of ${engines} through ${plan.launcher}`;
}

export class ClusterConnection {
  private cluster: Cluster | null = null;
  private rc: Client | null = null;
  private snap: ClusterSnapshot;
  private op: Promise<unknown> = Promise.resolve();
  private disposed = false;
  private generation = 0;
  /** How the app's own cluster was last brought up (a restart brings it up the same way). */
  private plan: ClusterPlan | null = null;
  private readonly monitor: EngineMonitor;
  private readonly connectionChanged: Emitter<string | null>;
  /** Watches the current cluster for a shutdown someone else asked for. */
  private watch: Disposable[] = [];

  /** Fires with the new client connection file whenever the app connects to another cluster (null: none). */
  readonly onDidChangeConnection;
  private readonly ending: Emitter<ClusterEnd>;
  /** Fires when something in the app ends the connection to a cluster, before it goes. */
  readonly onWillEnd;

  constructor(
    private readonly opts: ClusterConnectionOptions,
    private readonly table: EngineTable,
    private readonly sets: EngineSetList,
  ) {
    const s = opts.settings.get();
    this.snap = { status: 'stopped', mode: s.attach ? 'attached' : 'local', profile: s.profile, connectionFile: null, controllerPid: null, error: null, ended: null, settings: s, balancing: null };
    this.connectionChanged = new Emitter((e) => opts.log?.(`connection listener failed: ${(e as Error).message}`));
    this.onDidChangeConnection = this.connectionChanged.event;
    this.ending = new Emitter((e) => opts.log?.(`cluster-end listener failed: ${(e as Error).message}`));
    this.onWillEnd = this.ending.event;
    this.monitor = new EngineMonitor(
      table,
      (rc, e) => this.lost(rc, e),
      (rc, status) => this.showBalancing(rc, status),
    );
  }

  snapshot(): ClusterSnapshot {
    return { ...this.snap, settings: this.opts.settings.get() };
  }

  /** The client connection file of the current cluster, for the console. */
  get connectionFile(): string | null {
    return this.snap.status === 'running' ? this.snap.connectionFile : null;
  }

  /** Every pid the app's own cluster started (for tests and for the quit path). */
  get pids(): number[] {
    return this.cluster?.pids ?? [];
  }

  /** The cluster the app started, when it did (null when attached). */
  get ownCluster(): Cluster | null {
    return this.cluster;
  }

  /** How "Add engines" starts `n` more engines of the cluster the app started: through its launcher (growOptions). */
  addOptions(n: number): EngineSetOptions {
    return this.cluster && this.plan ? growOptions(this.plan, n) : {};
  }

  /** The client of the running cluster; a clear error when none runs. */
  client(): Client {
    const rc = this.rc;
    if (!rc || rc.isClosed || this.snap.status !== 'running') {
      throw new UserError(this.snap.status === 'starting' ? 'the cluster is still starting' : 'no cluster is running: start one, or attach to a running profile');
    }
    return rc;
  }

  /** Starts (or attaches) as the settings say; a profile with a cluster.json starts as it says, command-line flags winning. */
  start(): Promise<ClusterSnapshot> {
    const s = this.opts.settings.get();
    if (s.attach) return this.serial(() => this.bringUp({ attach: true, profile: s.profile }));
    return this.serial(async () => {
      let plan: ClusterPlan;
      try {
        const file = readProfileSettings(s.profile, this.opts.dir);
        const flags = this.opts.flags ?? {};
        plan = planOf(file, { n: flags.engineCount ?? file.n ?? s.engineCount, kind: flags.engineKind ?? file.engine ?? s.engineKind });
      } catch (e) {
        this.setSnap({ status: 'error', mode: 'local', profile: s.profile, error: `cannot start the cluster of profile "${s.profile}": ${(e as Error).message}` });
        return this.snapshot();
      }
      return this.bringUp({ attach: false, profile: s.profile, plan });
    });
  }

  /** Starts `p`'s engines through the launcher of the profile's cluster.json (local without one). */
  startCluster(p: EnginesPayload): Promise<ClusterSnapshot> {
    return this.serial(async () => {
      const profile = this.opts.settings.get().profile;
      const plan = planOf(readProfileSettings(profile, this.opts.dir), p);
      await this.tearDown({ why: 'a new cluster was started in its place' });
      const snap = await this.bringUp({ attach: false, profile, plan });
      if (snap.status === 'running') this.opts.settings.update({ engineCount: p.n, engineKind: p.kind, attach: false });
      return this.snapshot();
    });
  }

  /** The new-cluster form: saves it as the profile's cluster.json (checked first), then starts the cluster from it in place of what runs. */
  startNewCluster(form: ClusterForm): Promise<ClusterSnapshot> {
    return this.serial(async () => {
      await this.refuseOthersProfile(form.profile);
      const settings = saveForm(form, this.opts.dir);
      const plan = planOf(settings, { n: form.n, kind: form.kind });
      await this.tearDown({ why: `a new cluster of profile "${form.profile}" was started in its place` });
      const snap = await this.bringUp({ attach: false, profile: form.profile, plan });
      if (snap.status === 'running') this.opts.settings.update({ engineCount: form.n, engineKind: form.kind, attach: false, profile: form.profile });
      return this.snapshot();
    });
  }

  /** Attaches to the running cluster of `profile`; when it cannot, what runs now keeps running. */
  attachCluster(p: { profile: string }): Promise<ClusterSnapshot> {
    return this.serial(async () => {
      if (this.snap.status === 'running' && this.snap.mode === 'local' && this.snap.profile === p.profile) {
        throw new UserError(`"${p.profile}" is the profile of the cluster this app started: it is already connected`, 'profile');
      }
      const rc = await this.reach(p.profile);
      await this.tearDown({ why: `the app attached to profile "${p.profile}" instead` });
      const snap = await this.bringUp({ attach: true, profile: p.profile, rc });
      if (snap.status === 'running') this.opts.settings.update({ attach: true, profile: p.profile });
      return this.snapshot();
    });
  }

  stopCluster(): Promise<ClusterSnapshot> {
    return this.serial(async () => {
      await this.tearDown({ stopAttached: true, why: 'Stop in the app' });
      return this.snapshot();
    });
  }

  /** Restarts what is there: the same number of engines of each language, with empty namespaces. */
  restartCluster(): Promise<ClusterSnapshot> {
    return this.serial(async () => {
      if (this.snap.mode === 'attached' && this.rc && !this.rc.isClosed) {
        // Not ours to restart: give every engine a fresh process instead.
        for (const e of this.rc.engines) if (e.state !== 'dead') await this.rc.restartEngine(e.id);
        await this.rc.status();
        return this.snapshot();
      }
      const s = this.opts.settings.get();
      const last = this.plan ?? { groups: [], launcher: 'local' };
      // A launcher's cluster comes back as it was started; a local one with the engines it has now.
      const live = last.launcher === 'local' && this.rc ? groupsOf(this.table.list()) : [];
      const groups = live.length > 0 ? live : last.groups.length > 0 ? last.groups : [{ n: s.engineCount, kind: s.engineKind }];
      await this.tearDown({ stopAttached: true, why: 'Restart in the app' });
      return this.bringUp({ attach: false, profile: this.snap.profile, plan: { ...last, groups } });
    });
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    await this.op.catch(() => {});
    await this.tearDown({ quiet: true });
    this.monitor.dispose();
    this.connectionChanged.dispose();
    this.ending.dispose();
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.op.then(fn, fn);
    this.op = run.catch(() => {});
    return run;
  }

  private setSnap(patch: Partial<ClusterSnapshot>): void {
    this.snap = { ...this.snap, ...patch, settings: this.opts.settings.get() };
    this.opts.events.emit('onClusterChanged', this.snapshot());
  }

  /** A cluster the app did not start runs in `profile`: starting one there would take over its connection files. */
  private async refuseOthersProfile(profile: string): Promise<void> {
    if (this.cluster && this.snap.profile === profile) return; // ours: it is replaced
    const rc = await this.reach(profile).catch(() => null);
    if (!rc) return;
    const attached = rc.connectionFile === this.rc?.connectionFile;
    rc.close();
    throw new UserError(`a cluster ${attached ? 'this app is attached to' : 'started elsewhere'} runs in profile "${profile}": choose another profile (or stop that cluster first)`, 'profile');
  }

  /** Connects to the controller of `profile`, or says in the user's words why it cannot. */
  private async reach(profile: string): Promise<Client> {
    const file = connectionFilePath('client', profile, this.opts.dir);
    if (!fs.existsSync(file)) throw new UserError(`no cluster is running with profile "${profile}" (it has no connection file)`, 'profile');
    try {
      return await Client.connect({ file, subscribe: 'all', taskEvents: true, timeoutMs: ATTACH_TIMEOUT_MS });
    } catch (e) {
      throw new UserError(`the controller of profile "${profile}" does not answer: ${(e as Error).message}`, 'profile');
    }
  }

  private async bringUp(t: Target): Promise<ClusterSnapshot> {
    if (this.disposed) return this.snapshot();
    const gen = ++this.generation;
    this.setSnap({ status: 'starting', mode: t.attach ? 'attached' : 'local', profile: t.profile, error: null, ended: null, connectionFile: null, controllerPid: null, balancing: null });
    try {
      if (t.attach) {
        this.rc = t.rc ?? (await this.reach(t.profile));
      } else {
        // The controller first, then the engines: their rows show up as each registers.
        this.plan = t.plan;
        this.cluster = await Cluster.start({
          n: 0,
          profile: t.profile,
          dir: this.opts.dir,
          heartbeatMs: this.opts.heartbeatMs,
          deadAfterMs: this.opts.deadAfterMs,
          spawner: this.opts.spawner,
          ip: t.plan.ip,
          location: t.plan.location,
          scheme: t.plan.scheme,
          hwm: t.plan.hwm,
          db: t.plan.db,
        });
        this.rc = await Client.connect({ file: this.cluster.connectionFile, subscribe: 'all', taskEvents: true });
      }
      if (gen !== this.generation || this.disposed) return this.snapshot();
      const rc = this.rc;
      this.watchShutDown(rc, this.cluster);
      this.table.follow(rc);
      this.sets.follow(rc);
      this.setSnap({ controllerPid: rc.controllerPid || null });
      const cluster = this.cluster;
      if (cluster && !t.attach) {
        const { plan } = t;
        const groups = plan.groups.filter((g) => g.n > 0);
        const how = plan.launcher === 'local' ? {} : { launcher: plan.launcher, launcherOptions: plan.launcherOptions, timeoutMs: plan.engineTimeoutMs };
        await this.table.whileStarting(groups, async () => {
          for (const g of groups) await cluster.addEngines(g.n, { engine: g.kind, python: plan.python, ...how });
        });
        await this.sets.refresh();
        if (gen !== this.generation || this.disposed) return this.snapshot();
      }
      this.setSnap({ status: 'running', connectionFile: rc.connectionFile, controllerPid: rc.controllerPid || null });
      this.monitor.start(rc);
      this.connectionChanged.fire(rc.connectionFile);
    } catch (e) {
      this.opts.log?.(`cluster: ${(e as Error).message}`);
      const how = t.attach ? `cannot attach to profile "${t.profile}"` : `cannot start ${describePlan(t.plan)}`;
      await this.tearDown({ quiet: true });
      this.setSnap({ status: 'error', error: `${how}: ${(e as Error).message}` });
    }
    return this.snapshot();
  }

  /**
   * Disconnects; stops the cluster when it is ours (or, with `stopAttached`, asks an attached one
   * to shut down). `ended`: why it stopped, when someone else shut it down. `why`: what in the app
   * ended it, told (onWillEnd) before the connection goes, so the Events list has it.
   */
  private async tearDown({ stopAttached = false, quiet = false, ended = null, why }: { stopAttached?: boolean; quiet?: boolean; ended?: string | null; why?: string } = {}): Promise<void> {
    this.generation++;
    this.monitor.stop();
    for (const d of this.watch) d.dispose();
    this.watch = [];
    const rc = this.rc;
    const cluster = this.cluster;
    this.rc = null;
    this.cluster = null;
    if (!rc && !cluster) return;
    if (!quiet) this.setSnap({ status: 'stopping', ended });
    // An attached cluster is asked to shut down only with stopAttached, and while it can still hear.
    const askShutdown = !cluster && rc !== null && stopAttached && !rc.isClosed;
    if (why !== undefined) {
      const engines = (rc?.engines ?? []).filter((e) => e.state !== 'dead').length;
      this.ending.fire({ profile: this.snap.profile, controllerPid: cluster?.controllerPid ?? (rc?.controllerPid || null), engines, stops: cluster !== null || askShutdown, own: cluster !== null, why });
    }
    // The sets go now: a late answer about them would be news of a cluster the app has left.
    this.sets.follow(null);
    this.connectionChanged.fire(null);
    try {
      if (cluster) await cluster.stop();
      else if (askShutdown) await rc.shutdownController(5000).catch(() => {});
    } finally {
      rc?.close();
      this.table.follow(null);
      if (!quiet) this.setSnap({ status: 'stopped', connectionFile: null, controllerPid: null, balancing: null, ended });
    }
  }

  /** The scheduler's numbers from a status of the current controller, pushed only when they changed. */
  private showBalancing(rc: Client, status: StatusReport): void {
    const balancing = balancingOf(status);
    if (this.rc === rc && !sameBalancing(balancing, this.snap.balancing)) this.setSnap({ balancing });
  }

  /**
   * A client (or `multiengine stop`) shut the controller down: the cluster is stopped, not
   * lost. The app's own cluster says so when its controller exits 0 (its engines are stopped
   * by then); an attached one when the connection closes and the controller's file is gone.
   */
  private watchShutDown(rc: Client, cluster: Cluster | null): void {
    const profile = this.snap.profile;
    const ended = () => shutDownMessage({ attached: !cluster, profile, pid: rc.controllerPid || null });
    if (cluster) this.watch.push(cluster.onDidShutDown(() => this.shutDown(rc, ended())));
    this.watch.push(
      rc.onDidChangeConnection((state) => {
        if (state !== 'closed' || this.rc !== rc || !wasShutDown(rc)) return;
        // The app's own controller is still stopping its engines: its exit ends it (onDidShutDown).
        if (cluster) this.setSnap({ status: 'stopping', ended: ended(), balancing: null });
        else this.shutDown(rc, ended());
      }),
    );
  }

  private shutDown(rc: Client, ended: string): void {
    void this.serial(async () => {
      if (this.rc !== rc) return;
      this.opts.log?.(ended);
      await this.tearDown({ ended });
    });
  }

  private lost(rc: Client, e: Error): void {
    if (this.rc !== rc || wasShutDown(rc)) return;
    this.opts.log?.(`lost the controller: ${e.message}`);
    this.setSnap({ status: 'error', error: `lost the connection to the controller: ${e.message}`, balancing: null });
    this.table.markAllDead('the controller is gone');
  }
}
