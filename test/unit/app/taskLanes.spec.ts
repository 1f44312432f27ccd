// The task stream's lanes (renderer/lib/taskLanes.ts): bars per engine sorted by start, the
// visible window by binary search, hit testing, colours; and a 100,000-task case where what a
// window draws and what a pointer finds are checked against a plain scan of every bar.
import { describe, expect, it } from 'vitest';
import type { StreamEvent } from '../../../preload/contract.js';
import { Colours, forEachVisible, hitTest, MAX_BARS, PALETTE, TaskLanes, visibleRange, type Bar } from '../../../renderer/lib/taskLanes.js';

function ev(event: StreamEvent['event'], msgId: string, engineId: number | null, time: number, more: Partial<StreamEvent> = {}): StreamEvent {
  return { event, msgId, engineId, client: 1, kind: 'apply', label: null, time, ...more };
}

/** submitted, started and finished events of a task that ran on `engine` from `start` for `ms`. */
function task(msgId: string, engine: number, start: number, ms: number, more: Partial<StreamEvent> = {}): StreamEvent[] {
  return [
    ev('submitted', msgId, null, start - 2, { code: `f(${msgId})` }),
    ev('started', msgId, engine, start - 1),
    ev('finished', msgId, engine, start + ms, { start, status: 'ok', ...more }),
  ];
}

function drawn(lanes: TaskLanes, engine: number, t0: number, t1: number, now = 0): string[] {
  const lane = lanes.lanes.find((l) => l.engineId === engine)!;
  const out: string[] = [];
  forEachVisible(lane, t0, t1, now, (b) => out.push(b.msgId));
  return out;
}

describe('TaskLanes', () => {
  it('keeps one lane per engine, bars sorted by the engine start, open bars apart until they finish', () => {
    const lanes = new TaskLanes();
    lanes.add([...task('a', 1, 100, 50), ...task('b', 0, 120, 10)]);
    // Out of order: c started before a on engine 1 but finished later.
    lanes.add(task('c', 1, 90, 5));
    lanes.add([ev('submitted', 'd', null, 200, { code: 'slow()' }), ev('started', 'd', 0, 201)]);
    expect(lanes.lanes.map((l) => l.engineId)).toEqual([0, 1]);
    expect(lanes.lanes[1].bars.map((b) => b.msgId)).toEqual(['c', 'a']);
    const d = lanes.find('d', 0)!;
    expect([d.status, d.start, d.end, d.code]).toEqual(['open', 201, null, 'slow()']);
    expect(lanes.size).toBe(4);
    lanes.add([ev('finished', 'd', 0, 260, { start: 230, status: 'error', ename: 'ZeroDivisionError' })]);
    const done = lanes.find('d', 0)!;
    expect([done.status, done.start, done.end, done.queued, done.ename, done.code]).toEqual(['error', 230, 260, 201, 'ZeroDivisionError', 'slow()']);
    expect(lanes.size).toBe(4);
    expect([lanes.first, lanes.last]).toEqual([89, 260]); // c was sent at 89
  });

  it('a finished event without a start (no engine times) uses when it was sent; a scheduler answer draws no bar', () => {
    const lanes = new TaskLanes();
    lanes.add([ev('started', 'x', 2, 10), ev('finished', 'x', 2, 30, { status: 'ok' }), ev('finished', 'y', null, 31, { status: 'error' })]);
    expect(lanes.find('x', 2)).toMatchObject({ start: 10, end: 30, queued: null });
    expect(lanes.lanes.map((l) => l.engineId)).toEqual([2]);
  });

  it('draws only what is in the window, including a long bar that started before it, and open bars up to now', () => {
    const lanes = new TaskLanes();
    lanes.add([...task('long', 0, 0, 1000), ...task('s1', 0, 1000, 10), ...task('s2', 0, 2000, 10), ...task('s3', 0, 3000, 10)]);
    lanes.add([ev('started', 'open', 0, 3500)]);
    expect(drawn(lanes, 0, 500, 1500, 3600)).toEqual(['long', 's1']);
    expect(drawn(lanes, 0, 1500, 2500, 3600)).toEqual(['s2']);
    expect(drawn(lanes, 0, 2500, 4000, 3600)).toEqual(['s3', 'open']);
    expect(drawn(lanes, 0, 1011, 1999, 3600)).toEqual([]);
    const lane = lanes.lanes[0];
    expect(visibleRange(lane, 1500, 2500)).toEqual({ from: 1, to: 3 }); // from 1500 minus the longest bar (1000) on
  });

  it('hit test: the bar under the pointer within the slack, the open one when over it, nothing in a gap', () => {
    const lanes = new TaskLanes();
    lanes.add([...task('a', 0, 0, 100), ...task('b', 0, 200, 1)]);
    lanes.add([ev('started', 'c', 0, 500)]);
    const lane = lanes.lanes[0];
    expect(hitTest(lane, 50, 0, 600)?.msgId).toBe('a');
    expect(hitTest(lane, 150, 0, 600)).toBeNull();
    expect(hitTest(lane, 203, 5, 600)?.msgId).toBe('b');
    expect(hitTest(lane, 550, 0, 600)?.msgId).toBe('c');
    expect(hitTest(lane, 700, 0, 600)).toBeNull();
  });

  it('colours: one per label (else kind) in order of first sight, the legend lists them', () => {
    const lanes = new TaskLanes();
    lanes.add([...task('a', 0, 0, 1), ...task('b', 0, 10, 1, { label: 'load' }), ...task('c', 1, 0, 1, { kind: 'execute' }), ...task('d', 1, 20, 1, { label: 'load' })]);
    expect(lanes.colours.legend()).toEqual([
      { key: 'apply', colour: PALETTE[0] },
      { key: 'load', colour: PALETTE[1] },
      { key: 'execute', colour: PALETTE[2] },
    ]);
    const c = new Colours();
    for (let i = 0; i < PALETTE.length + 1; i++) c.of(`k${i}`);
    expect(c.of(`k${PALETTE.length}`)).toBe(PALETTE[0]);
  });

  it('holds 100,000 tasks on 64 engines: a window draws exactly the bars a full scan finds, and hit tests agree', () => {
    const lanes = new TaskLanes();
    const N = 100_000;
    const E = 64;
    const all: Bar[] = [];
    // Tasks of 1-40 ms, each engine busy back to back, fed in controller-sized batches.
    const next = new Array<number>(E).fill(0);
    let batch: StreamEvent[] = [];
    for (let i = 0; i < N; i++) {
      const e = (i * 7) % E;
      const ms = 1 + ((i * 13) % 40);
      const start = next[e] + (i % 3);
      next[e] = start + ms;
      const st = i % 97 === 0 ? 'error' : 'ok';
      batch.push(...task(`t${i}`, e, start, ms, { status: st, label: i % 2 ? 'even' : null }));
      all.push({ msgId: `t${i}`, engineId: e, start, end: start + ms, queued: null, kind: 'apply', label: null, client: 1, status: st });
      if (batch.length >= 2000) {
        lanes.add(batch);
        batch = [];
      }
    }
    lanes.add(batch);
    expect(lanes.size).toBe(N);
    expect(lanes.lanes).toHaveLength(E);
    for (const lane of lanes.lanes) for (let i = 1; i < lane.bars.length; i++) expect(lane.bars[i - 1].start <= lane.bars[i].start).toBe(true);

    const [t0, t1] = [20_000, 20_500];
    for (const engine of [0, 17, 63]) {
      const expected = all.filter((b) => b.engineId === engine && b.start < t1 && (b.end as number) >= t0).map((b) => b.msgId);
      const got = drawn(lanes, engine, t0, t1);
      expect(got.length).toBeGreaterThan(5);
      expect(got.length).toBeLessThan(100); // a window, not the lane
      expect(new Set(got)).toEqual(new Set(expected));
    }
    const lane17 = lanes.lanes.find((l) => l.engineId === 17)!;
    for (const t of [20_003, 20_250, 30_001]) {
      const under = all.filter((b) => b.engineId === 17 && b.start <= t && (b.end as number) >= t).map((b) => b.msgId);
      const hit = hitTest(lane17, t, 0, 0);
      if (under.length === 0) expect(hit).toBeNull();
      else expect(under).toContain(hit?.msgId);
    }
    expect(lanes.lanes.reduce((n, l) => n + l.bars.filter((b) => b.status === 'error').length, 0)).toBe(Math.ceil(N / 97));
  });

  it('past MAX_BARS each lane gives up its oldest bars', () => {
    const lanes = new TaskLanes();
    const batch: StreamEvent[] = [];
    for (let i = 0; i <= MAX_BARS; i++) batch.push(ev('finished', `t${i}`, i % 2, i + 1, { start: i, status: 'ok' }));
    lanes.add(batch);
    expect(lanes.size).toBeLessThan(MAX_BARS);
    expect(lanes.size).toBeGreaterThan(MAX_BARS * 0.7);
    expect(lanes.lanes[0].bars[0].start).toBeGreaterThan(0);
    expect(lanes.first).toBe(Math.min(lanes.lanes[0].bars[0].start, lanes.lanes[1].bars[0].start));
  });
});
