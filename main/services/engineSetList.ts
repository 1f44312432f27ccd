/**
 * The engine sets of the running cluster as the renderer shows them: read from the controller
 * when engines come or go (a set starts, ends or is stopped) and, as a safety net for state
 * changes without one (a batch job leaving its queue), at the engine monitor's idle cadence.
 * The list goes to the renderer only when it changed.
 */
import type { Client, EngineChange } from '../../core/index.js';
import { Emitter, type Disposable } from '../../core/events/emitter.js';
import type { EngineSetInfo } from '../../core/protocol/messages.js';
import type { EngineSet, EngineSetOutput } from '../../preload/contract.js';
import type { EventSink } from '../ipc/router.js';
import { IDLE_POLL_MS } from './engineMonitor.js';

/** Engine events are gathered this long before the sets are read again. */
export const SETS_DEBOUNCE_MS = 150;

function epochOrNull(iso: string | undefined): number | null {
  const t = iso ? Date.parse(iso) : NaN;
  return Number.isFinite(t) ? t : null;
}

export function engineSetView(s: EngineSetInfo): EngineSet {
  return {
    id: s.id,
    launcher: s.launcher,
    kind: s.engine,
    n: s.n,
    engines: [...s.engines],
    hosts: [...s.hosts],
    state: s.state,
    reason: s.reason ?? null,
    jobId: s.job_id ?? null,
    started: epochOrNull(s.started) ?? Date.now(),
    ended: epochOrNull(s.ended),
  };
}

/** Events that may change a set: an engine registered, went away, or died with its set. */
function touchesSets(c: EngineChange): boolean {
  return c.event === 'registered' || c.event === 'unregistered' || (c.event === 'state' && c.engine?.state === 'dead');
}

export class EngineSetList {
  private sets: EngineSet[] = [];
  private shown = '[]';
  private rc: Client | null = null;
  private sub: Disposable | null = null;
  private pollTimer: ReturnType<typeof setInterval> | null = null;
  private soon: ReturnType<typeof setTimeout> | null = null;
  private readonly changed = new Emitter<EngineSet[]>();
  /** The list changed (what the renderer is sent). */
  readonly onDidChangeSets = this.changed.event;

  constructor(
    private readonly events: EventSink,
    private readonly log: (line: string) => void = () => {},
  ) {}

  /** Follows `rc`'s sets from now on (null: none, and the list empties). */
  follow(rc: Client | null): void {
    this.sub?.dispose();
    this.sub = null;
    if (this.pollTimer) clearInterval(this.pollTimer);
    if (this.soon) clearTimeout(this.soon);
    this.pollTimer = this.soon = null;
    this.rc = rc;
    if (rc) {
      this.sub = rc.onDidChangeEngines((c) => touchesSets(c) && this.refreshSoon());
      this.pollTimer = setInterval(() => void this.refresh(), IDLE_POLL_MS);
      void this.refresh();
    } else {
      this.publish([]);
    }
  }

  list(): EngineSet[] {
    return this.sets;
  }

  /** Reads the sets from the controller now; the last known list when it cannot. */
  async refresh(): Promise<EngineSet[]> {
    const rc = this.rc;
    if (!rc || rc.isClosed) return this.sets;
    try {
      const sets = (await rc.engineSets()).map(engineSetView);
      if (this.rc === rc) this.publish(sets);
    } catch (e) {
      // A controller without engine sets, or one going away: the monitor reports a lost controller.
      if (this.rc === rc && !rc.isClosed) this.log(`engine sets: ${(e as Error).message}`);
    }
    return this.sets;
  }

  async stop(rc: Client, set: string): Promise<void> {
    try {
      await rc.stopEngineSet(set);
    } finally {
      await this.refresh();
    }
  }

  async output(rc: Client, set: string): Promise<EngineSetOutput> {
    return { set, output: await rc.engineSetOutput(set) };
  }

  dispose(): void {
    this.follow(null);
  }

  private refreshSoon(): void {
    this.soon ??= setTimeout(() => {
      this.soon = null;
      void this.refresh();
    }, SETS_DEBOUNCE_MS);
  }

  private publish(sets: EngineSet[]): void {
    const text = JSON.stringify(sets);
    this.sets = sets;
    if (text === this.shown) return;
    this.shown = text;
    this.events.emit('onEngineSetsChanged', sets);
    this.changed.fire(sets);
  }
}
