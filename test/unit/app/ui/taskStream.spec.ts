// The dashboard's components in happy-dom: the engine table with 1,000 engines (virtua keeps
// a window of rows in the DOM, scrolling brings the last one), the compact engine grid (a cell
// per engine, by state or CPU), the tab host (remembers the tab), the progress view (counts
// in items from pushed task events) and the layout's split rule.
import { fireEvent, render, screen } from '@testing-library/svelte';
import { tick } from 'svelte';
import { afterEach, beforeEach, describe, expect, it, type Mock } from 'vitest';
import type { StreamEvent, TaskStreamBatch } from '../../../../preload/contract';
import EngineGrid from '../../../../renderer/components/EngineGrid.svelte';
import Progress from '../../../../renderer/components/Progress.svelte';
import { setApi } from '../../../../renderer/lib/api';
import { cellColour, cpuColour, STATE_COLOURS } from '../../../../renderer/lib/engineCells';
import { splitAt } from '../../../../renderer/lib/layout';
import { store } from '../../../../renderer/lib/state.svelte';
import { taskFeed } from '../../../../renderer/lib/taskFeed.svelte';
import { engineRow, fakeApi } from './fakeApi';
import TabsHarness from './TabsHarness.svelte';
import { renderTable } from './viewport';

const N = 1000;

describe('the engine table with 1,000 engines', () => {
  beforeEach(() => {
    setApi(fakeApi().api);
    store.setSelection([]);
    store.applyEngines({ rows: Array.from({ length: N }, (_, i) => engineRow(i)), removed: [], reset: true });
  });
  afterEach(() => setApi(null));

  it('keeps a window of rows in the DOM, brings the last ones when scrolled, and stays bounded through updates', async () => {
    const { container } = await renderTable();
    const ids = () => [...container.querySelectorAll('.row[data-engine-id]')].map((r) => Number((r as HTMLElement).dataset.engineId));
    expect(ids()[0]).toBe(0);
    expect(ids().length).toBeGreaterThan(10);
    expect(ids().length).toBeLessThan(60);
    expect(screen.getByTestId('engine-summary').textContent).toMatch(/1000 engines\s+· 1000 idle/);
    const scroller = screen.getByTestId('engine-rows');
    scroller.scrollTop = N * 28 - 400;
    await fireEvent.scroll(scroller);
    await tick();
    await new Promise((r) => setTimeout(r, 20));
    await tick();
    expect(ids()).toContain(N - 1);
    expect(ids()).not.toContain(0);
    // A busy cluster: every row changes 20 times; the DOM keeps a window, the shown rows are current.
    for (let k = 1; k <= 20; k++) {
      store.applyEngines({ rows: Array.from({ length: N }, (_, i) => engineRow(i, { state: 'busy', tasksDone: k })), removed: [], reset: false });
      await tick();
    }
    expect(ids().length).toBeLessThan(60);
    const last = container.querySelector(`.row[data-engine-id="${N - 1}"]`) as HTMLElement;
    expect(last.dataset.state).toBe('busy');
    expect(last.querySelector('[data-col=done]')?.textContent).toBe('20');
  });
});

describe('the compact engine grid', () => {
  beforeEach(() => {
    setApi(fakeApi().api);
    store.setSelection([]);
    localStorage.clear();
  });
  afterEach(() => setApi(null));

  it('one cell per engine coloured by state, or by CPU after the toggle; clicking selects', async () => {
    store.applyEngines({ rows: Array.from({ length: N }, (_, i) => engineRow(i, { state: i % 10 === 0 ? 'busy' : 'idle', cpu: i % 10 === 0 ? 99 : 0 })), removed: [], reset: true });
    render(EngineGrid);
    const grid = screen.getByTestId('engine-grid');
    const cells = grid.querySelectorAll('[data-engine-id]');
    expect(cells).toHaveLength(N);
    const bg = (id: number) => (grid.querySelector(`[data-engine-id="${id}"]`) as HTMLElement).style.background;
    const css = (c: string) => {
      const probe = document.createElement('div');
      probe.style.background = c;
      return probe.style.background;
    };
    expect(bg(10)).toBe(css(STATE_COLOURS.busy));
    expect(bg(11)).toBe(css(STATE_COLOURS.idle));
    await fireEvent.click(screen.getByRole('radio', { name: 'CPU' }));
    expect(grid.dataset.colourBy).toBe('cpu');
    expect(bg(10)).toBe(css(cpuColour(99)));
    expect(bg(11)).toBe(css(cpuColour(0)));
    expect(localStorage.getItem('multiengine:layout:grid-colour')).toBe('cpu');
    await fireEvent.click(grid.querySelector('[data-engine-id="7"]')!);
    expect([...store.selected]).toEqual([7]);
  });

  it('colours: CPU runs from cold to hot and saturates; a dead engine is dark either way', () => {
    expect(cpuColour(0)).toBe('rgb(30, 42, 70)');
    expect(cpuColour(100)).toBe('rgb(225, 87, 89)');
    expect(cpuColour(250)).toBe(cpuColour(100));
    expect(cpuColour(50)).not.toBe(cpuColour(0));
    expect(cellColour({ state: 'dead', cpu: 90 }, 'cpu')).toBe(STATE_COLOURS.dead);
    expect(cellColour({ state: 'busy', cpu: null }, 'cpu')).toBe('#2a2d33');
  });
});

describe('tabs and the layout', () => {
  beforeEach(() => localStorage.clear());

  it('shows the first tab, switches on click and with the arrow keys, and remembers the choice', async () => {
    const first = render(TabsHarness);
    expect(screen.getByTestId('tab-a').textContent).toContain('content A');
    await fireEvent.click(screen.getByRole('tab', { name: 'B' }));
    expect(screen.getByTestId('tab-b').textContent).toContain('content B');
    expect(screen.queryByText('content A')).toBeNull();
    await fireEvent.keyDown(screen.getByRole('tablist'), { key: 'ArrowRight' });
    expect(screen.getByRole('tab', { name: 'C' }).getAttribute('aria-selected')).toBe('true');
    first.unmount();
    render(TabsHarness);
    expect(screen.getByTestId('tab-c').textContent).toContain('content C');
  });

  it('a split keeps each pane at least its minimum', () => {
    expect(splitAt(300, 1000, 100)).toBe(0.3);
    expect(splitAt(20, 1000, 100)).toBe(0.1);
    expect(splitAt(990, 1000, 100)).toBe(0.9);
    expect(splitAt(50, 150, 100)).toBe(0.5);
  });
});

describe('progress', () => {
  let mocks: Record<string, Mock>;
  let push: (b: TaskStreamBatch) => void = () => {};
  beforeEach(() => {
    const fake = fakeApi();
    mocks = fake.mocks;
    mocks.onTaskStream.mockImplementation((cb: (b: TaskStreamBatch) => void) => {
      push = cb;
      return () => {};
    });
    mocks.listTaskStream.mockResolvedValue({ events: [], reset: true, seq: 0 });
    setApi(fake.api);
  });
  afterEach(() => {
    taskFeed.dispose();
    setApi(null);
  });

  it('a 10,000-item map pushed as listed and counted events shows 10,000 of 10,000', async () => {
    await taskFeed.init();
    render(Progress);
    const map = { id: 'm', items: 10_000, chunk: 1 };
    const ev = (event: StreamEvent['event'], i: number): StreamEvent => ({ event, msgId: `t${i}`, engineId: event === 'submitted' ? null : i % 4, client: 3, kind: 'apply', label: 'squares', time: Date.now(), map, ...(event === 'finished' ? { status: 'ok' as const } : {}) });
    push({ events: Array.from({ length: 2000 }, (_, i) => ev('submitted', i)), unlisted: 8000, seq: 1 });
    await tick();
    const entry = () => screen.getByTestId('progress-entry');
    expect([entry().dataset.done, entry().dataset.total, entry().dataset.state]).toEqual(['0', '10000', 'running']);
    push({ events: Array.from({ length: 2000 }, (_, i) => ev('finished', i)), maps: [{ map, ok: 7000, failed: 0 }], seq: 2 });
    await tick();
    expect(entry().dataset.done).toBe('9000');
    expect(entry().textContent).toMatch(/9,000\s*\/\s*10,000/);
    expect(entry().textContent).toMatch(/squares/);
    expect(entry().textContent).toMatch(/left/);
    push({ events: [], maps: [{ map, ok: 1000, failed: 0 }], seq: 3 });
    await tick();
    expect([entry().dataset.done, entry().dataset.state]).toEqual(['10000', 'done']);
  });
});
