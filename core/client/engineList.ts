/**
 * The engines a client knows, kept current from the controller's engine_event pushes and
 * status replies, with the change event views and the app listen to.
 */
import type { EngineInfo } from '../protocol/messages.js';
import { Emitter, type Event } from '../events/emitter.js';

export interface EngineChange {
  event: 'registered' | 'state' | 'unregistered' | 'refresh';
  /** The engine concerned; absent for 'refresh' (a whole new list from status). */
  engine?: EngineInfo;
  /** Live engine ids after the change. */
  ids: number[];
}

export class EngineList {
  private readonly byId = new Map<number, EngineInfo>();
  private liveIds: number[] | null = null;
  private readonly changes = new Emitter<EngineChange>();
  readonly onDidChange: Event<EngineChange> = this.changes.event;

  /** Sorted ids of the live engines (not dead). */
  get ids(): number[] {
    if (this.liveIds === null) {
      this.liveIds = [...this.byId.values()]
        .filter((e) => e.state !== 'dead')
        .map((e) => e.id)
        .sort((a, b) => a - b);
    }
    return [...this.liveIds];
  }

  /** Copies of every engine's info, dead ones included, by id. */
  all(): EngineInfo[] {
    return [...this.byId.values()].sort((a, b) => a.id - b.id).map((e) => ({ ...e }));
  }

  /** The live record (not a copy; callers inside the client only read it). */
  get(id: number): EngineInfo | undefined {
    return this.byId.get(id);
  }

  has(id: number): boolean {
    return this.byId.has(id);
  }

  /** Applies one engine_event; the change is announced separately (`announce`), after the caller's own bookkeeping. */
  update(event: EngineChange['event'], e: EngineInfo): void {
    if (event === 'unregistered') this.byId.delete(e.id);
    else this.byId.set(e.id, { ...e });
    this.liveIds = null;
  }

  announce(event: EngineChange['event'], e: EngineInfo): void {
    this.changes.fire({ event, engine: { ...e }, ids: this.ids });
  }

  /** A whole new list (connect_reply, status). */
  replace(engines: readonly EngineInfo[]): void {
    this.byId.clear();
    for (const e of engines) this.byId.set(e.id, { ...e });
    this.liveIds = null;
    this.changes.fire({ event: 'refresh', ids: this.ids });
  }
}
