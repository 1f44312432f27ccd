// Component tests in happy-dom: the engine table (virtualized, selection, actions), the value
// tree, and a failing panel showing a readable message.
import { fireEvent, render, screen } from '@testing-library/svelte';
import { createRawSnippet, tick } from 'svelte';
import { afterEach, beforeEach, describe, expect, it, vi, type Mock } from 'vitest';
import type { ClusterSnapshot } from '../../../../preload/contract';
import ClusterBar from '../../../../renderer/components/ClusterBar.svelte';
import Panel from '../../../../renderer/components/Panel.svelte';
import ValueTree from '../../../../renderer/components/ValueTree.svelte';
import { setApi } from '../../../../renderer/lib/api';
import { store } from '../../../../renderer/lib/state.svelte';
import { clusterSnapshot, engineRow, fakeApi } from './fakeApi';
import { renderTable } from './viewport';
import PanelHarness from './PanelHarness.svelte';

describe('EngineTable', () => {
  let api: Record<string, Mock>;
  beforeEach(() => {
    const fake = fakeApi();
    api = fake.mocks;
    setApi(fake.api);
    store.setSelection([]);
    store.now = Date.now();
    store.applyEngines({ rows: Array.from({ length: 256 }, (_, i) => engineRow(i)), removed: [], reset: true });
  });
  afterEach(() => setApi(null));

  it('renders only the rows in view, with 256 engines', async () => {
    const { container } = await renderTable();
    const rows = container.querySelectorAll('.row[data-engine-id]');
    expect(rows.length).toBeGreaterThan(0);
    expect(rows.length).toBeLessThan(60);
    expect(screen.getByTestId('engine-summary').textContent).toMatch(/256 engines\s+· 256 idle/);
    // virtua sizes its content for every row (28 px each) while rendering only those in view.
    const content = container.querySelector('[data-testid=engine-rows] > div') as HTMLElement;
    expect(content.style.height).toBe(`${256 * 28}px`);
  });

  it('shows each engine: id, kernel, host, pid, state, queue, balanced, task, done, CPU, memory, uptime', async () => {
    const now = Date.now();
    store.now = now;
    store.applyEngines({ rows: [engineRow(0, { state: 'busy', queue: 2, balanced: 1, tasksDone: 7, registered: now - 5000, currentTask: { msgType: 'apply', started: now - 1500 } })], removed: [], reset: false });
    const { container } = await renderTable();
    const row = container.querySelector('.row[data-engine-id="0"]') as HTMLElement;
    expect(row.dataset.state).toBe('busy');
    const cells = [...row.querySelectorAll('[role=gridcell]')].map((c) => c.textContent?.trim());
    expect(cells.slice(1, 13)).toEqual(['0', 'node', 'host-a', '1000', 'busy', '2', '1', 'apply 1.5 s', '7', '1.5%', '50 MiB', '5s']);
    const heads = [...container.querySelectorAll('[role=columnheader]')].map((c) => c.textContent?.trim());
    expect(heads.slice(6, 8)).toEqual(['queue', 'balanced']);
    expect(row.querySelector('svg.spark polyline')).not.toBeNull();
  });

  it('updates a row when its engine changes', async () => {
    const { container } = await renderTable();
    store.applyEngines({ rows: [engineRow(1, { state: 'dead', reason: 'process killed by SIGKILL' })], removed: [], reset: false });
    await tick();
    const row = container.querySelector('.row[data-engine-id="1"]') as HTMLElement;
    expect(row.dataset.state).toBe('dead');
    expect(row.querySelector('[data-col=state]')?.getAttribute('title')).toBe('process killed by SIGKILL');
  });

  it('selecting rows sets the targets and the console %px targets', async () => {
    const { container } = await renderTable();
    await fireEvent.click(container.querySelector('.row[data-engine-id="0"]')!);
    await fireEvent.click(container.querySelector('.row[data-engine-id="2"]')!);
    expect(store.targets).toEqual([0, 2]);
    expect(api.setPxTargets).toHaveBeenLastCalledWith({ ids: [0, 2] });
    await fireEvent.click(container.querySelector('.row[data-engine-id="0"]')!);
    expect(api.setPxTargets).toHaveBeenLastCalledWith({ ids: [2] });
    await fireEvent.click(container.querySelector('.row[data-engine-id="4"]')!, { shiftKey: true });
    expect(store.targets).toEqual([0, 1, 2, 3, 4]); // a range from the last clicked row
  });

  it('per-engine actions call interrupt, restart and stop', async () => {
    vi.stubGlobal('confirm', vi.fn(() => true));
    await renderTable();
    await fireEvent.click(screen.getByRole('button', { name: 'Interrupt engine 3' }));
    await fireEvent.click(screen.getByRole('button', { name: 'Restart engine 3' }));
    await fireEvent.click(screen.getByRole('button', { name: 'Stop engine 3' }));
    expect(api.interruptEngines).toHaveBeenCalledWith({ ids: [3] });
    expect(api.restartEngine).toHaveBeenCalledWith({ id: 3 });
    expect(api.stopEngine).toHaveBeenCalledWith({ id: 3 });
    expect(store.selected.size).toBe(0); // the buttons do not select the row
    vi.unstubAllGlobals();
  });

  it('Stop asks first, does nothing when declined, and says when it is done', async () => {
    const confirmFn = vi.fn(() => false);
    vi.stubGlobal('confirm', confirmFn);
    store.toasts = [];
    await renderTable();
    await fireEvent.click(screen.getByRole('button', { name: 'Stop engine 3' }));
    expect(confirmFn).toHaveBeenCalledWith(expect.stringMatching(/^Stop engine 3\?/));
    expect(api.stopEngine).not.toHaveBeenCalled();
    confirmFn.mockReturnValue(true);
    await fireEvent.click(screen.getByRole('button', { name: 'Stop engine 3' }));
    expect(api.stopEngine).toHaveBeenCalledWith({ id: 3 });
    await vi.waitFor(() => expect(store.toasts.at(-1)).toMatchObject({ message: 'stopped engine 3', kind: 'info' }));
    vi.unstubAllGlobals();
  });

  it('shows engines being started as rows without an id, after the others, not selectable', async () => {
    store.applyEngines({ rows: [engineRow(-1, { state: 'starting', pid: 0 }), engineRow(-2, { state: 'starting', pid: 0 })], removed: [], reset: false });
    expect(store.rows.slice(-2).map((r) => r.id)).toEqual([-1, -2]);
    store.applyEngines({ rows: [engineRow(0), engineRow(-1, { state: 'starting', pid: 0 })], removed: [], reset: true });
    const { container } = await renderTable();
    const row = container.querySelector('.row[data-engine-id="-1"]') as HTMLElement;
    expect(row.dataset.state).toBe('starting');
    const cells = [...row.querySelectorAll('[role=gridcell]')].map((c) => c.textContent?.trim());
    expect(cells[1]).toBe('…');
    expect(cells[4]).toBe('–');
    expect(row.querySelectorAll('button')).toHaveLength(0);
    await fireEvent.click(row);
    expect(store.selected.size).toBe(0);
    expect(screen.getByTestId('engine-summary').textContent).toMatch(/2 engines\s*· 1 idle\s*· 1 starting/);
  });

  it('keeps up with a busy cluster: 50 updates of all 256 rows', async () => {
    const { container } = await renderTable();
    const t0 = performance.now();
    for (let k = 0; k < 50; k++) {
      store.applyEngines({ rows: Array.from({ length: 256 }, (_, i) => engineRow(i, { state: k % 2 ? 'busy' : 'idle', queue: k % 3, tasksDone: k })), removed: [], reset: false });
      await tick();
    }
    const ms = performance.now() - t0;
    expect((container.querySelector('.row[data-engine-id="0"]') as HTMLElement).dataset.state).toBe('busy');
    expect(ms).toBeLessThan(5000);
  });

  it('turns a failed action into a readable message', async () => {
    vi.stubGlobal('confirm', () => true);
    api.stopEngine.mockRejectedValueOnce(new Error('no engine with id 3'));
    await renderTable();
    await fireEvent.click(screen.getByRole('button', { name: 'Stop engine 3' }));
    await tick();
    expect(store.toasts.at(-1)?.message).toBe('no engine with id 3');
    vi.unstubAllGlobals();
  });
});

describe('ClusterBar', () => {
  const snapshot = (status: ClusterSnapshot['status']) => clusterSnapshot(status, { engineCount: 6, engineKind: 'python' });
  let api: Record<string, Mock>;
  beforeEach(() => {
    const fake = fakeApi();
    api = fake.mocks;
    setApi(fake.api);
  });
  afterEach(() => {
    setApi(null);
    store.cluster = null;
  });

  it('starts a cluster with the remembered count and kind', async () => {
    store.cluster = snapshot('stopped');
    render(ClusterBar);
    await tick();
    expect((screen.getByLabelText('Number of engines') as HTMLInputElement).value).toBe('6');
    await fireEvent.click(screen.getByRole('button', { name: 'Start cluster' }));
    expect(api.startCluster).toHaveBeenCalledWith({ n: 6, kind: 'python' });
  });

  it('adds engines to a running cluster', async () => {
    store.cluster = snapshot('running');
    render(ClusterBar);
    await tick();
    expect(screen.getByTestId('cluster-status').textContent).toMatch(/local cluster\s*app.*controller pid 42/);
    expect(screen.getByTestId('load-balancing').textContent).toBe('· load-balanced: 0 unassigned · leastload');
    await fireEvent.input(screen.getByLabelText('Number of engines'), { target: { value: '3' } });
    await fireEvent.click(screen.getByRole('button', { name: 'Add engines' }));
    expect(api.addEngines).toHaveBeenCalledWith({ n: 3, kind: 'python' });
  });
});

describe('ClusterBar, a cluster shut down by another client', () => {
  beforeEach(() => setApi(fakeApi().api));
  afterEach(() => {
    setApi(null);
    store.cluster = null;
    store.toasts = [];
  });

  it('shows it stopped with why, offers Start, and says it once in a toast', async () => {
    store.cluster = clusterSnapshot('running');
    store.toasts = [];
    render(ClusterBar);
    const why = 'the cluster was shut down on request: its controller, pid 42, stopped its engines and exited';
    store.applyCluster({ ...clusterSnapshot('stopped'), connectionFile: null, controllerPid: null, ended: why });
    await tick();
    expect(screen.getByTestId('cluster-status').textContent?.replace(/\s+/g, ' ').trim()).toBe(`stopped · ${why}`);
    expect(screen.getByTestId('cluster-ended').getAttribute('title')).toBe(why);
    expect(screen.getByRole('button', { name: 'Start cluster' })).toBeTruthy();
    expect(store.toasts.map((t) => [t.kind, t.message])).toEqual([['info', why]]);
    store.applyCluster({ ...clusterSnapshot('stopped'), ended: why });
    expect(store.toasts).toHaveLength(1);
    // A new cluster: no reason left over.
    store.applyCluster(clusterSnapshot('running'));
    await tick();
    expect(screen.queryByTestId('cluster-ended')).toBeNull();
  });
});

describe('Panel', () => {
  it('untitled, as a panel whose tabs name it: no heading, named for screen readers by its label', () => {
    const { container } = render(Panel, { label: 'Inspectors and monitoring', testid: 'p', children: createRawSnippet(() => ({ render: () => '<div role="tablist">tabs</div>' })) });
    expect(container.querySelector('h2')).toBeNull();
    expect(container.querySelector('header')).toBeNull();
    expect(screen.getByTestId('p').getAttribute('aria-label')).toBe('Inspectors and monitoring');
  });

  it('titled: a heading, and no separate label', () => {
    render(Panel, { title: 'Engines', testid: 'q', children: createRawSnippet(() => ({ render: () => '<div>rows</div>' })) });
    expect(screen.getByRole('heading', { name: 'Engines' })).toBeTruthy();
    expect(screen.getByTestId('q').getAttribute('aria-label')).toBeNull();
  });
});

describe('ClusterBar, load balancing', () => {
  beforeEach(() => setApi(fakeApi().api));
  afterEach(() => {
    setApi(null);
    store.cluster = null;
  });

  it('shows the unassigned tasks and the scheme, with the hwm in its tooltip, as the snapshot changes; nothing when the controller reports none', async () => {
    store.cluster = { ...clusterSnapshot('running'), balancing: { scheme: 'twobin', hwm: 0, unassigned: 1 } };
    render(ClusterBar);
    await tick();
    const note = screen.getByTestId('load-balancing');
    expect(note.textContent).toBe('· load-balanced: 1 unassigned · twobin');
    expect(note.getAttribute('title')).toBe('1 load-balanced task waiting in the controller, not yet sent to any engine; engines picked by twobin, no limit per engine');
    store.cluster = { ...clusterSnapshot('running'), balancing: { scheme: 'leastload', hwm: 2, unassigned: 12 } };
    await tick();
    expect(screen.getByTestId('load-balancing').textContent).toBe('· load-balanced: 12 unassigned · leastload');
    expect(screen.getByTestId('load-balancing').getAttribute('title')).toBe('12 load-balanced tasks waiting in the controller, not yet sent to any engine; engines picked by leastload, at most 2 per engine');
    store.cluster = { ...clusterSnapshot('running'), balancing: null };
    await tick();
    expect(screen.queryByTestId('load-balancing')).toBeNull();
  });
});

describe('ValueTree', () => {
  it('shows arrays as tables and objects as collapsible trees', async () => {
    const { container } = render(ValueTree, {
      value: {
        kind: 'object',
        type: 'Object',
        size: 2,
        truncated: false,
        entries: [
          { key: 'xs', value: { kind: 'list', type: 'Array', length: 3, truncated: false, items: [1, 2, 3].map((n) => ({ kind: 'scalar' as const, type: 'number', text: String(n) })) } },
          { key: 'm', value: { kind: 'table', type: 'Array', shape: [2, 2], rows: [['1', '2'], ['3', '4']], truncated: false } },
        ],
      },
    });
    expect(container.querySelector('details')).not.toBeNull();
    expect(container.querySelector('summary')?.textContent).toBe('Object {2}');
    const tables = container.querySelectorAll('table');
    expect(tables).toHaveLength(2);
    expect(tables[1].querySelectorAll('tbody tr')).toHaveLength(2);
    expect(container.textContent).toContain('Array(3)');
  });
});

describe('a failure in the UI', () => {
  it('shows a readable message, not a blank panel', async () => {
    render(PanelHarness);
    const alert = screen.getByRole('alert');
    expect(alert.textContent).toContain('This panel failed.');
    expect(alert.textContent).toContain('the widget broke: x is not a function');
    expect(screen.getByRole('button', { name: 'Try again' })).toBeTruthy();
  });
});
