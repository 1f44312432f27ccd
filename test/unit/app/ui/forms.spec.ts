// Component tests in happy-dom for what a new user hit (issue 11): errors about a field stand
// under that field, toasts are short and few, inspectors never show a stale result, the
// namespace browser lists again when told namespaces may have changed and reads "all" against
// the engines alive now, and attaching over a running cluster asks first.
import { fireEvent, render, screen } from '@testing-library/svelte';
import { tick } from 'svelte';
import { afterEach, beforeEach, describe, expect, it, vi, type Mock } from 'vitest';
import { ApiError, type NamespaceListing, type PullResult } from '../../../../preload/contract';
import ClusterBar from '../../../../renderer/components/ClusterBar.svelte';
import NamespaceBrowser from '../../../../renderer/components/NamespaceBrowser.svelte';
import PullInspector from '../../../../renderer/components/PullInspector.svelte';
import PushInspector from '../../../../renderer/components/PushInspector.svelte';
import ScatterGather from '../../../../renderer/components/ScatterGather.svelte';
import Toasts from '../../../../renderer/components/Toasts.svelte';
import { setApi } from '../../../../renderer/lib/api';
import { store, TOAST_MS } from '../../../../renderer/lib/state.svelte';
import { clusterSnapshot, engineRow, fakeApi } from './fakeApi';

const pulled = (name: string, text: string): PullResult => ({ name, values: [{ engineId: 0, ok: true, value: { kind: 'scalar', type: 'number', text } }] });

let api: Record<string, Mock>;
beforeEach(() => {
  const fake = fakeApi();
  api = fake.mocks;
  setApi(fake.api);
  store.toasts = [];
  store.setSelection([]);
  store.applyEngines({ rows: [engineRow(0), engineRow(1), engineRow(2)], removed: [], reset: true });
  store.cluster = clusterSnapshot('running');
});
afterEach(() => {
  setApi(null);
  store.cluster = null;
  vi.useRealTimers();
  vi.unstubAllGlobals();
});

describe('toasts', () => {
  it('close themselves after a few seconds (errors a little later), and at most three show', () => {
    vi.useFakeTimers();
    for (let i = 0; i < 5; i++) store.push(`note ${i}`);
    expect(store.toasts.map((t) => t.message)).toEqual(['note 2', 'note 3', 'note 4']);
    store.error(new Error('it broke'));
    expect(TOAST_MS.info).toBeLessThanOrEqual(5000);
    expect(TOAST_MS.error).toBeGreaterThan(TOAST_MS.info);
    expect(TOAST_MS.error).toBeLessThanOrEqual(10_000);
    vi.advanceTimersByTime(TOAST_MS.info + 1);
    expect(store.toasts.map((t) => t.message)).toEqual(['it broke']);
    vi.advanceTimersByTime(TOAST_MS.error);
    expect(store.toasts).toEqual([]);
  });

  it('can be closed', async () => {
    store.push('hello');
    render(Toasts);
    await tick();
    await fireEvent.click(screen.getByRole('button', { name: 'Dismiss' }));
    expect(store.toasts).toEqual([]);
  });
});

describe('PullInspector', () => {
  it('clears the old result when a new pull starts, and shows a name error under the input', async () => {
    api.pull.mockResolvedValueOnce(pulled('a', '5'));
    const { container } = render(PullInspector);
    const input = screen.getByLabelText('Name to pull');
    await fireEvent.input(input, { target: { value: 'a' } });
    await fireEvent.submit(input.closest('form')!);
    await vi.waitFor(() => expect(container.querySelector('[data-testid=pull-result][data-name=a]')).not.toBeNull());
    let reject: (e: unknown) => void = () => {};
    api.pull.mockReturnValueOnce(new Promise((_, r) => (reject = r)));
    await fireEvent.input(input, { target: { value: 'b' } });
    await fireEvent.submit(input.closest('form')!);
    await tick();
    expect(container.querySelector('[data-testid=pull-result]')).toBeNull(); // gone while the new pull runs
    reject(new ApiError('Error', 'The name "b" is not a valid name', 'name'));
    await vi.waitFor(() => expect(screen.getByTestId('field-error').textContent).toBe('The name "b" is not a valid name'));
    expect(input.getAttribute('aria-invalid')).toBe('true');
    expect(input.getAttribute('aria-describedby')).toBe('pull-name-error');
    expect(store.toasts).toEqual([]);
    expect(container.querySelector('[data-testid=pull-result]')).toBeNull();
  });
});

describe('PushInspector', () => {
  it('shows a bad value under the value field, not in a toast', async () => {
    api.push.mockRejectedValueOnce(new ApiError('Error', 'the value is not valid JSON: Unexpected end', 'value'));
    render(PushInspector);
    await fireEvent.input(screen.getByLabelText('Name to push'), { target: { value: 'b' } });
    await fireEvent.input(screen.getByLabelText('Value to push'), { target: { value: '[1,' } });
    await fireEvent.click(screen.getByRole('button', { name: 'Push to all engines' }));
    await vi.waitFor(() => expect(screen.getByTestId('field-error').textContent).toMatch(/not valid JSON/));
    expect(screen.getByLabelText('Value to push').getAttribute('aria-invalid')).toBe('true');
    expect(screen.getByLabelText('Name to push').getAttribute('aria-invalid')).toBeNull();
    expect(store.toasts).toEqual([]);
  });
});

describe('ScatterGather', () => {
  it('a failed gather clears the last result and says why under the name', async () => {
    api.gather.mockResolvedValueOnce({ name: 'x', value: { kind: 'scalar', type: 'number', text: '1' } });
    const { container } = render(ScatterGather);
    await fireEvent.input(screen.getByLabelText('Name to scatter or gather'), { target: { value: 'x' } });
    await fireEvent.click(screen.getByRole('button', { name: 'Gather from all engines' }));
    await vi.waitFor(() => expect(container.querySelector('[data-testid=gather-result]')).not.toBeNull());
    api.gather.mockRejectedValueOnce(new ApiError('Error', 'cannot gather y:\nengine 0: NameError: y is not defined', 'name'));
    await fireEvent.input(screen.getByLabelText('Name to scatter or gather'), { target: { value: 'y' } });
    await fireEvent.click(screen.getByRole('button', { name: 'Gather from all engines' }));
    await vi.waitFor(() => expect(screen.getByTestId('field-error').textContent).toMatch(/engine 0: NameError/));
    expect(container.querySelector('[data-testid=gather-result]')).toBeNull();
    expect(store.toasts).toEqual([]);
  });
});

describe('NamespaceBrowser', () => {
  const listing = (engines: number[], targets: number[]): NamespaceListing => ({
    targets,
    entries: [{ name: 'a', type: 'number', shape: null, length: null, bytes: 8, repr: '5', engines, differs: false }],
    errors: [],
  });

  it('lists again when the namespaces may have changed', async () => {
    api.listNamespace.mockResolvedValue({ targets: [0, 1, 2], entries: [], errors: [] });
    render(NamespaceBrowser);
    await vi.waitFor(() => expect(api.listNamespace).toHaveBeenCalledTimes(1));
    api.listNamespace.mockResolvedValue(listing([0, 1, 2], [0, 1, 2]));
    store.namespaceChanges++;
    await vi.waitFor(() => expect(api.listNamespace).toHaveBeenCalledTimes(2));
    await vi.waitFor(() => expect(screen.getByText('a')).toBeTruthy());
  });

  it('shows an empty namespace, without asking or an error, once no engine is left', async () => {
    api.listNamespace.mockResolvedValue(listing([0, 1, 2], [0, 1, 2]));
    render(NamespaceBrowser);
    await vi.waitFor(() => expect(screen.getByText('a')).toBeTruthy());
    // A set was stopped: its engines died, and main says the namespaces may have changed.
    store.applyEngines({ rows: [0, 1, 2].map((id) => engineRow(id, { state: 'dead' })), removed: [], reset: true });
    store.namespaceChanges++;
    await vi.waitFor(() => expect(screen.getByText('The namespace is empty.')).toBeTruthy());
    expect(api.listNamespace).toHaveBeenCalledTimes(1);
    expect(store.toasts).toEqual([]);
  });

  it('says "all" only when the name is on every engine alive now', async () => {
    api.listNamespace.mockResolvedValue(listing([0, 1, 2], [0, 1, 2]));
    const { container } = render(NamespaceBrowser);
    const cell = () => container.querySelector('tr[data-name=a] .engines')?.textContent;
    await vi.waitFor(() => expect(cell()).toBe('all'));
    store.applyEngines({ rows: [engineRow(3)], removed: [], reset: false }); // an engine was added
    await tick();
    expect(cell()).toBe('0, 1, 2');
  });
});

describe('ClusterBar attach', () => {
  it('asks before stopping a running cluster, and shows a failed attach under the profile', async () => {
    const confirmFn = vi.fn(() => false);
    vi.stubGlobal('confirm', confirmFn);
    render(ClusterBar);
    await fireEvent.click(screen.getByRole('button', { name: 'Attach…' }));
    await fireEvent.input(screen.getByLabelText('Profile to attach to'), { target: { value: 'nope' } });
    await fireEvent.click(screen.getByRole('button', { name: 'Attach' }));
    expect(confirmFn).toHaveBeenCalledWith(expect.stringMatching(/^Attach to profile "nope"\? This stops the local cluster and its 3 engines/));
    expect(api.attachCluster).not.toHaveBeenCalled();
    confirmFn.mockReturnValue(true);
    api.attachCluster.mockRejectedValueOnce(new ApiError('Error', 'no cluster is running with profile "nope"', 'profile'));
    await fireEvent.click(screen.getByRole('button', { name: 'Attach' }));
    await vi.waitFor(() => expect(screen.getByTestId('field-error').textContent).toBe('no cluster is running with profile "nope"'));
    expect(screen.getByLabelText('Profile to attach to').getAttribute('aria-invalid')).toBe('true');
    expect(store.toasts).toEqual([]);
  });

  it('says what a restart brings back before confirming', async () => {
    store.applyEngines({ rows: [engineRow(3, { kernel: 'python' })], removed: [], reset: false });
    const confirmFn = vi.fn(() => false);
    vi.stubGlobal('confirm', confirmFn);
    render(ClusterBar);
    await fireEvent.click(screen.getByRole('button', { name: 'Restart cluster' }));
    expect(confirmFn).toHaveBeenCalledWith(expect.stringContaining('It comes back with 3 node and 1 python engines.'));
    expect(api.restartCluster).not.toHaveBeenCalled();
  });
});
