/**
 * Every client's task events in the renderer, for the task stream and progress views. The
 * lanes and the progress book are plain (non-reactive) structures, so 100,000 tasks cost no
 * rune bookkeeping; `version` ticks once per applied batch for the views to redraw.
 */
import type { TaskStreamBatch } from '../../preload/contract';
import { api, onConnectionState } from './api';
import { ProgressBook } from './progress';
import { TaskLanes } from './taskLanes';

class TaskFeed {
  readonly lanes = new TaskLanes();
  readonly progress = new ProgressBook();
  /** Ticks once per applied batch. */
  version = $state(0);
  /** Events the controller only counted (past its cap per interval): not in the lanes. */
  unlisted = $state(0);

  private seq = 0;
  /** Pushes that arrive while a listing is on its way: applied after it, those it does not cover. */
  private held: TaskStreamBatch[] | null = null;
  private unsubs: (() => void)[] = [];

  async init(): Promise<void> {
    if (this.unsubs.length) return;
    const a = api();
    this.unsubs.push(
      a.onTaskStream((b) => (this.held ? this.held.push(b) : this.apply(b))),
      onConnectionState((s, reconnected) => {
        if (s === 'open' && reconnected) void this.reload();
      }),
    );
    await this.reload();
  }

  async reload(): Promise<void> {
    this.held = [];
    try {
      this.apply(await api().listTaskStream());
    } catch {
      // The other views report a failing connection; the stream fills from the next push.
    } finally {
      const held = this.held ?? [];
      this.held = null;
      for (const b of held) if ((b.seq ?? Infinity) > this.seq) this.apply(b);
    }
  }

  apply(b: TaskStreamBatch): void {
    if (b.seq !== undefined) this.seq = b.seq;
    const now = Date.now();
    if (b.reset) {
      this.lanes.clear();
      this.progress.clear();
      this.unlisted = 0;
    }
    this.lanes.add(b.events);
    this.progress.add(b, now);
    if (b.unlisted) this.unlisted += b.unlisted;
    this.version++;
  }

  dispose(): void {
    for (const u of this.unsubs) u();
    this.unsubs = [];
  }
}

export const taskFeed = new TaskFeed();
