/**
 * The Events view's timeline: engines registered, died (with the cause), restarted, resumed
 * and gone; the controller exited, restarted or lost; engine sets started, pending and ended.
 * It compares what the controller says of each engine and set with what it said before, so a
 * change is one event however it was heard of (an engine event or a whole new list). A
 * bounded list, pushed to the renderer in batches. An event that is part of a stop someone
 * asked for is marked `requested` (the renderer shows it as ordinary news, not a failure): an
 * engine stopped or shut down with the controller (its reason says so), the controller's exit
 * on request, and whatever follows that exit. Stop, Restart or another cluster in the app is one
 * event, told before the connection goes (the engines' ends after it are not followed).
 */
import type { Disposable } from '../../core/events/emitter.js';
import { wasShutDown, type Client, type Cluster, type ControllerEvent, type EngineInfo } from '../../core/index.js';
import { stoppedOnPurpose } from '../../core/protocol/messages.js';
import type { ClusterEvent, ClusterEventKind, EngineSet } from '../../preload/contract.js';
import type { EventSink } from '../ipc/router.js';
import type { ClusterEnd } from './clusterConnection.js';

/** Events kept; the oldest go first. */
export const MAX_EVENTS = 5000;
export const PUSH_MS = 100;

interface Seen {
  state: string;
  pid: number;
  restarts: number;
  resumed: string | undefined;
}

/** A bounded list of events, oldest first. Pure bookkeeping. */
export class EventList {
  private items: ClusterEvent[] = [];
  private seq = 0;

  constructor(private readonly max = MAX_EVENTS) {}

  add(kind: ClusterEventKind, text: string, more: { engine?: number | null; set?: string | null; cause?: string | null; t?: number; requested?: boolean } = {}): ClusterEvent {
    const ev: ClusterEvent = { seq: ++this.seq, t: more.t ?? Date.now(), kind, engine: more.engine ?? null, set: more.set ?? null, text, cause: more.cause ?? null, requested: more.requested ?? false };
    this.items.push(ev);
    // Cut in chunks, so a flood costs one copy per tenth of the list.
    if (this.items.length > this.max + Math.ceil(this.max / 10)) this.items = this.items.slice(-this.max);
    return ev;
  }

  list(): ClusterEvent[] {
    return this.items.length > this.max ? this.items.slice(-this.max) : [...this.items];
  }
}

function engineName(e: EngineInfo): string {
  return `${e.kernel} engine ${e.id}`;
}

function where(e: EngineInfo): string {
  return `on ${e.stats?.host ?? e.host}, pid ${e.pid}`;
}

function epoch(iso: string | undefined): number | undefined {
  const t = iso ? Date.parse(iso) : NaN;
  return Number.isFinite(t) ? t : undefined;
}

export class ClusterEvents {
  readonly list = new EventList();
  private readonly engines = new Map<number, Seen>();
  private readonly sets = new Map<string, EngineSet['state']>();
  private subs: Disposable[] = [];
  private pending: ClusterEvent[] = [];
  private timer: ReturnType<typeof setTimeout> | null = null;
  /** The controller shut down on request: what follows (engines gone with it) is part of that stop. */
  private shutDown = false;

  constructor(private readonly events: EventSink) {}

  /** Follows `rc`'s engines and, when the app started it, `cluster`'s controller process (null: none). */
  follow(rc: Client | null, cluster: Cluster | null): void {
    for (const s of this.subs) s.dispose();
    this.subs = [];
    this.engines.clear();
    this.sets.clear();
    this.shutDown = false;
    if (!rc) return;
    const known = [...rc.engines].sort((a, b) => (epoch(a.registered) ?? 0) - (epoch(b.registered) ?? 0));
    for (const e of known) this.observe(e);
    const live = known.filter((e) => e.state !== 'dead').length;
    this.add('connected', `connected to the controller${rc.controllerPid ? ` (pid ${rc.controllerPid})` : ''}: ${live} engine${live === 1 ? '' : 's'} running`);
    this.subs.push(
      rc.onDidChangeEngines((c) => {
        if (c.event === 'refresh') for (const e of rc.engines) this.observe(e);
        else if (c.event === 'unregistered' && c.engine) this.gone(c.engine);
        else if (c.engine) this.observe(c.engine);
      }),
    );
    if (cluster) this.subs.push(cluster.onDidChangeController((e) => this.controller(e)));
    this.subs.push(
      rc.onDidChangeConnection((state) => {
        if (state === 'reconnecting' && !cluster) this.add('controller-lost', 'lost the connection to the controller; reconnecting');
        else if (state === 'connected' && !cluster) this.add('controller-restarted', `reconnected to the controller${rc.controllerPid ? ` (pid ${rc.controllerPid})` : ''}`);
        else if (state === 'closed') this.closed(rc, cluster);
      }),
    );
  }

  /** The engine sets as the launchers report them now. */
  observeSets(sets: readonly EngineSet[]): void {
    for (const s of sets) {
      const prev = this.sets.get(s.id);
      this.sets.set(s.id, s.state);
      if (prev === s.state) continue;
      const what = `${s.id}: ${s.n} ${s.kind} engine${s.n === 1 ? '' : 's'} through ${s.launcher}${s.jobId ? ` (job ${s.jobId})` : ''}`;
      if (prev === undefined) this.add('set-started', `${what} started`, { set: s.id, t: s.started });
      if (s.state === 'pending') this.add('set-pending', `${what} waits`, { set: s.id, cause: s.reason });
      else if (s.state === 'ended') this.add('set-ended', `${what} ended`, { set: s.id, cause: s.reason, t: s.ended ?? undefined });
    }
  }

  dispose(): void {
    this.follow(null, null);
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  /** What the controller says of an engine now (compared with what it said before). */
  observe(e: EngineInfo): void {
    const prev = this.engines.get(e.id);
    this.engines.set(e.id, { state: e.state, pid: e.pid, restarts: e.restarts, resumed: e.resumed });
    const opts = { engine: e.id };
    const stopped = { ...opts, requested: stoppedOnPurpose(e.reason) };
    if (!prev) {
      if (e.state === 'dead') this.add('died', `${engineName(e)} is dead (${where(e)})`, { ...stopped, cause: e.reason ?? null });
      else if (e.restarts > 0 && e.last_restart) this.add('restarted', `${engineName(e)} restarted ${where(e)}`, { ...opts, cause: e.last_restart.reason, t: epoch(e.registered) });
      else this.add('registered', `${engineName(e)} registered ${where(e)}`, { ...opts, t: epoch(e.registered) });
      return;
    }
    if (prev.state !== 'dead' && e.state === 'dead') this.add('died', `${engineName(e)} died (${where(e)})`, { ...stopped, cause: e.reason ?? 'no reason given' });
    if (e.state === 'dead') return;
    if (e.restarts > prev.restarts || (e.pid !== prev.pid && e.pid > 0 && prev.pid > 0)) {
      this.add('restarted', `${engineName(e)} restarted ${where(e)}`, { ...opts, cause: e.last_restart?.reason ?? null });
    } else if (prev.state === 'dead') {
      this.add('registered', `${engineName(e)} registered ${where(e)}`, opts);
    } else if (e.resumed && e.resumed !== prev.resumed) {
      this.add('resumed', `${engineName(e)} re-registered with the restarted controller, its namespace kept (${where(e)})`, { ...opts, t: epoch(e.resumed) });
    }
  }

  /** The app ends its connection to the cluster it follows (ClusterConnection.onWillEnd). */
  ended(e: ClusterEnd): void {
    const pid = e.controllerPid ? ` (pid ${e.controllerPid})` : '';
    const engines = `${e.engines} engine${e.engines === 1 ? '' : 's'}`;
    const more = { cause: e.why, requested: true };
    if (e.own) this.add('stopped', `stopped the cluster of profile "${e.profile}": its controller${pid} and ${engines}`, more);
    else if (e.stops) this.add('stopped', `asked the controller${pid} of profile "${e.profile}" to shut down, with its ${engines}`, more);
    else this.add('disconnected', `disconnected from the controller${pid} of profile "${e.profile}", which keeps running with its ${engines}`, more);
  }

  private gone(e: EngineInfo): void {
    if (!this.engines.delete(e.id)) return;
    this.add('unregistered', `${engineName(e)} left the cluster (${where(e)})`, { engine: e.id, cause: e.reason ?? null, requested: stoppedOnPurpose(e.reason) });
  }

  /** The connection closed for good: a shutdown (the controller removed its file) or a loss. */
  private closed(rc: Client, cluster: Cluster | null): void {
    if (!wasShutDown(rc)) {
      this.add('controller-lost', 'the connection to the controller is closed');
      return;
    }
    this.shutDown = true;
    // The app's own controller: its exit is the event (with the Cluster's cause).
    if (!cluster) this.add('controller-exited', `the controller${rc.controllerPid ? ` (pid ${rc.controllerPid})` : ''} exited`, { cause: 'it shut down and removed its connection file' });
  }

  private controller(e: ControllerEvent): void {
    // A new controller numbers its engine sets afresh.
    if (e.event === 'restarted') this.sets.clear();
    if (e.event === 'exited' && e.requested) this.shutDown = true;
    if (e.event === 'exited') this.add('controller-exited', `the controller (pid ${e.pid}) exited`, { cause: e.reason });
    else if (e.event === 'restarted') this.add('controller-restarted', `the controller was restarted (pid ${e.pid})`, { cause: e.reason });
    else this.add('controller-lost', 'the controller is gone and was not restarted', { cause: e.reason });
  }

  private add(kind: ClusterEventKind, text: string, more: Parameters<EventList['add']>[2] = {}): void {
    // Whatever follows a shutdown on request is part of it; a lost controller never is.
    const requested = kind !== 'controller-lost' && (more.requested === true || this.shutDown);
    this.pending.push(this.list.add(kind, text, { ...more, requested }));
    this.timer ??= setTimeout(() => {
      this.timer = null;
      const batch = this.pending;
      this.pending = [];
      this.events.emit('onClusterEvents', batch);
    }, PUSH_MS);
  }
}
