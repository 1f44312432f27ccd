// The dashboard views over the contract: Plots shows the history and each new sample (the
// numbers it exposes follow the chosen view), Logs asks main for the search and appends only
// matching new lines, with a marker for dropped ones, and Events lists newest first, once each,
// in red only what nobody asked for.
import { fireEvent, render, screen, waitFor } from '@testing-library/svelte';
import { afterEach, beforeEach, describe, expect, it, type Mock } from 'vitest';
import type { ClusterEvent, LogLine, LogResult, MetricsHistory, MetricsSample } from '../../../../preload/contract';
import Events from '../../../../renderer/components/dashboard/Events.svelte';
import Logs from '../../../../renderer/components/dashboard/Logs.svelte';
import Plots from '../../../../renderer/components/dashboard/Plots.svelte';
import { setApi } from '../../../../renderer/lib/api';
import { LogView } from '../../../../renderer/lib/logView';
import { MetricsSeries } from '../../../../renderer/lib/metricsSeries';
import { eventTone, mergeEvents } from '../../../../renderer/lib/eventView';
import { fakeApi } from './fakeApi';

/** The callback a component gave to an `onX` mock. */
function pushed<T>(mock: Mock): (payload: T) => void {
  expect(mock).toHaveBeenCalled();
  return mock.mock.calls.at(-1)![0] as (payload: T) => void;
}

const history: MetricsHistory = {
  intervalMs: 1000,
  windowMs: 600_000,
  t: [1_000_000, 1_001_000],
  totalCpu: [3, 4],
  totalRss: [300, 310],
  engines: [
    { id: 0, cpu: [1, 2], rss: [100, 110] },
    { id: 1, cpu: [2, 2], rss: [200, 200] },
  ],
};

function line(seq: number, source: string, text: string, stream: LogLine['stream'] = 'stdout'): LogLine {
  return { seq, t: 1_000_000 + seq, source, stream, text };
}

function event(seq: number, kind: ClusterEvent['kind'], engine: number | null, cause: string | null = null): ClusterEvent {
  return { seq, t: 1_000_000 + seq * 1000, kind, engine, set: null, text: `${kind} ${engine}`, cause, requested: false };
}

describe('dashboard views', () => {
  let api: Record<string, Mock>;
  beforeEach(() => {
    const fake = fakeApi();
    api = fake.mocks;
    setApi(fake.api);
  });
  afterEach(() => setApi(null));

  it('Plots: the history, then each sample; the numbers follow the view chosen', async () => {
    api.getMetricsHistory.mockResolvedValue(history);
    render(Plots);
    const plots = screen.getByTestId('dashboard-plots');
    await waitFor(() => expect(plots.getAttribute('data-samples')).toBe('2'));
    expect(plots.getAttribute('data-last-cpu')).toBe('4');
    const sample: MetricsSample = { t: 1_002_000, totalCpu: 97, totalRss: 320, ids: [0, 1], cpu: [95, 2], rss: [110, 210] };
    pushed<MetricsSample>(api.onMetricsSample)(sample);
    await waitFor(() => expect(plots.getAttribute('data-last-cpu')).toBe('97'));
    expect(plots.getAttribute('data-samples')).toBe('3');
    await fireEvent.change(screen.getByTestId('plots-view'), { target: { value: '1' } });
    await waitFor(() => expect(plots.getAttribute('data-last-cpu')).toBe('2'));
    expect(plots.getAttribute('data-last-rss')).toBe('210');
    expect(screen.getByText(/Memory/).textContent).toContain('210 B');
  });

  it('Logs: the search answer, the dropped-lines marker, new lines only when they match, a new search on typing', async () => {
    const result: LogResult = { lines: [line(1, 'engine 0', 'needle a'), line(2, 'controller', 'needle b', 'log')], more: 0, sources: [{ source: 'controller', lines: 1, bytes: 8, dropped: 0 }, { source: 'engine 0', lines: 1, bytes: 8, dropped: 3 }] };
    api.searchLogs.mockResolvedValue(result);
    render(Logs);
    await waitFor(() => expect(screen.getByTestId('dashboard-logs').getAttribute('data-lines')).toBe('2'));
    expect(api.searchLogs).toHaveBeenCalledWith({ from: null, text: '' });
    await waitFor(() => expect(screen.getByTestId('logs-dropped').textContent).toContain('3 lines dropped'));
    pushed<{ lines: LogLine[]; sources: [] }>(api.onLogLines)({ lines: [line(3, 'engine 1', 'more')], sources: [] });
    await waitFor(() => expect(screen.getByTestId('dashboard-logs').getAttribute('data-lines')).toBe('3'));

    api.searchLogs.mockResolvedValue({ ...result, lines: [line(1, 'engine 0', 'needle a')] });
    await fireEvent.input(screen.getByTestId('logs-filter'), { target: { value: 'needle a' } });
    await waitFor(() => expect(api.searchLogs).toHaveBeenLastCalledWith({ from: null, text: 'needle a' }));
    await waitFor(() => expect(screen.getByTestId('dashboard-logs').getAttribute('data-lines')).toBe('1'));
    pushed<{ lines: LogLine[]; sources: [] }>(api.onLogLines)({ lines: [line(4, 'engine 1', 'hay'), line(5, 'engine 1', 'NEEDLE A again')], sources: [] });
    // Only the matching one of the two (the rows themselves are drawn by the virtual list, which needs a real layout: the e2e test reads them).
    await waitFor(() => expect(screen.getByTestId('dashboard-logs').getAttribute('data-lines')).toBe('2'));

    await fireEvent.change(screen.getByTestId('logs-source'), { target: { value: 'engine 0' } });
    await waitFor(() => expect(api.searchLogs).toHaveBeenLastCalledWith({ from: 'engine 0', text: 'needle a' }));
  });

  it('Events: newest first, each once', async () => {
    api.listClusterEvents.mockResolvedValue([event(1, 'registered', 0), event(2, 'registered', 1)]);
    render(Events);
    await waitFor(() => expect(screen.getByTestId('dashboard-events').getAttribute('data-count')).toBe('2'));
    pushed<ClusterEvent[]>(api.onClusterEvents)([event(2, 'registered', 1), event(3, 'died', 0, 'process killed by signal SIGKILL')]);
    await waitFor(() => expect(screen.getByTestId('dashboard-events').getAttribute('data-count')).toBe('3'));
    expect(screen.getByTestId('dashboard-events').getAttribute('data-newest')).toBe('died:0');
  });
});

describe('dashboard helpers', () => {
  it('MetricsSeries: a new engine starts empty, one that stops reading gets gaps, old samples leave the window', () => {
    const m = new MetricsSeries();
    m.load({ ...history, windowMs: 2500 });
    m.add({ t: 1_002_000, totalCpu: 1, totalRss: 1, ids: [0, 2], cpu: [1, 5], rss: [1, 5] });
    expect(m.engines.get(2)?.cpu).toEqual([null, null, 5]);
    expect(m.engines.get(1)?.cpu).toEqual([2, 2, null]);
    m.add({ t: 1_004_000, totalCpu: 1, totalRss: 1, ids: [0], cpu: [1], rss: [1] });
    expect(m.t).toEqual([1002, 1004]);
    // Engine 1 has nothing left in the window: it is no longer listed.
    expect(m.ids).toEqual([0, 2]);
    expect(MetricsSeries.last([1, 2, null])).toBe(2);
  });

  it('LogView: keeps its cap, counting what it let go; says nothing when nothing is hidden', () => {
    const v = new LogView(2);
    v.load({ from: null, text: '' }, { lines: [], more: 0, sources: [] });
    expect(v.marker).toBeNull();
    v.append([line(1, 'engine 0', 'a'), line(2, 'engine 0', 'b'), line(3, 'engine 0', 'c')], [{ source: 'engine 0', lines: 3, bytes: 3, dropped: 1 }]);
    expect(v.lines.map((l) => l.text)).toEqual(['b', 'c']);
    expect(v.marker).toBe('1 line dropped (the oldest, to keep the log within its cap) · 1 older matching line not shown');
    // A line already shown (seq not newer) is not added twice.
    v.append([line(3, 'engine 0', 'c')], []);
    expect(v.lines).toHaveLength(2);
  });

  it('eventTone: an exit or a death nobody asked for is bad news; one that is part of a stop asked for is ordinary', () => {
    const tone = (kind: ClusterEvent['kind'], requested: boolean) => eventTone({ ...event(1, kind, null), requested });
    expect(tone('controller-exited', false)).toBe('bad');
    expect(tone('died', false)).toBe('bad');
    expect(tone('controller-lost', false)).toBe('bad');
    expect(tone('controller-exited', true)).toBe('plain');
    expect(tone('died', true)).toBe('plain');
    // The rest keep their colours either way.
    expect(tone('registered', false)).toBe('good');
    expect(tone('restarted', false)).toBe('warn');
    expect(tone('unregistered', true)).toBe('plain');
    // The app's own Stop or Restart, and leaving an attached cluster: ordinary news.
    expect(tone('stopped', true)).toBe('plain');
    expect(tone('disconnected', true)).toBe('plain');
  });

  it('mergeEvents: newest first, no repeats', () => {
    const a = mergeEvents([], [event(1, 'registered', 0), event(2, 'registered', 1)]);
    expect(mergeEvents(a, [event(2, 'registered', 1), event(3, 'died', 1)]).map((e) => e.seq)).toEqual([3, 2, 1]);
  });
});
