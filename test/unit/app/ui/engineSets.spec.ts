// Issue 13 in the window: the engine sets list (state and why, job id, hosts; Output; Stop asks
// first), the engine table grouped by host, and the new-cluster form (fields per launcher,
// errors under the field, replacing a running cluster asks first).
import { fireEvent, render, screen, within } from '@testing-library/svelte';
import { tick } from 'svelte';
import { afterEach, beforeEach, describe, expect, it, vi, type Mock } from 'vitest';
import { ApiError, type ClusterForm, type EngineSet } from '../../../../preload/contract';
import ClusterBar from '../../../../renderer/components/ClusterBar.svelte';
import EngineSets from '../../../../renderer/components/EngineSets.svelte';
import { setApi } from '../../../../renderer/lib/api';
import { groupByHost } from '../../../../renderer/lib/hostGroups';
import { store } from '../../../../renderer/lib/state.svelte';
import { clusterSnapshot, engineRow, fakeApi } from './fakeApi';
import { renderTable } from './viewport';

const set = (id: string, patch: Partial<EngineSet> = {}): EngineSet => ({ id, launcher: 'mpi', kind: 'node', n: 2, engines: [0, 1], hosts: ['host-a'], state: 'running', reason: null, jobId: null, started: Date.now(), ended: null, ...patch });

const blankForm = (patch: Partial<ClusterForm> = {}): ClusterForm => ({ profile: 'app', n: 3, kind: 'node', launcher: 'local', mpiArgs: '', sshHosts: '', sshCommand: '', slurmPartition: '', slurmTime: '', slurmAccount: '', ...patch });

/** Picks an option the way a user does (the option becomes selected, then the select changes). */
async function choose(select: HTMLElement, value: string): Promise<void> {
  for (const o of (select as HTMLSelectElement).options) o.selected = o.value === value;
  await fireEvent.change(select);
}

let api: Record<string, Mock>;
beforeEach(() => {
  const fake = fakeApi();
  api = fake.mocks;
  setApi(fake.api);
  store.toasts = [];
  store.setSelection([]);
  store.engineSets = [];
  store.applyEngines({ rows: [engineRow(0), engineRow(1), engineRow(2)], removed: [], reset: true });
  store.cluster = clusterSnapshot('running');
});
afterEach(() => {
  setApi(null);
  store.cluster = null;
  store.engineSets = [];
  vi.unstubAllGlobals();
});

describe('the engine sets list', () => {
  it('shows nothing without sets, and each set with launcher, state and why, job id, hosts and engines', async () => {
    const { container } = render(EngineSets);
    expect(screen.queryByTestId('engine-sets')).toBeNull();
    store.engineSets = [set('set-1', { launcher: 'local', engines: [0, 1, 2, 3], n: 4 }), set('set-2', { launcher: 'slurm', state: 'pending', reason: 'Resources', jobId: '42', engines: [], hosts: [], n: 4 }), set('set-3', { launcher: 'ssh', state: 'ended', reason: 'stopped', engines: [8, 9], hosts: ['hostb', 'hostc'] })];
    await tick();
    const rows = [...container.querySelectorAll('tr[data-set-id]')] as HTMLElement[];
    expect(rows.map((r) => [...r.querySelectorAll('td')].slice(0, 6).map((c) => c.textContent?.replace(/\s+/g, ' ').trim()))).toEqual([
      ['set-1', 'local', 'running', '–', 'host-a', '4 (0–3) node'],
      ['set-2', 'slurm', 'pending Resources', '42', '–', '0 of 4 node'],
      ['set-3', 'ssh', 'ended stopped', '–', 'hostb, hostc', '2 (8–9) node'],
    ]);
    expect(rows.map((r) => r.dataset.state)).toEqual(['running', 'pending', 'ended']);
    // An ended set has nothing left to stop.
    expect((screen.getByRole('button', { name: 'Stop set-3' }) as HTMLButtonElement).disabled).toBe(true);
    expect((screen.getByRole('button', { name: 'Stop set-2' }) as HTMLButtonElement).disabled).toBe(false);
  });

  it('Stop asks first, naming the engines, and stops only when confirmed', async () => {
    store.engineSets = [set('set-2')];
    const confirmFn = vi.fn(() => false);
    vi.stubGlobal('confirm', confirmFn);
    render(EngineSets);
    await fireEvent.click(screen.getByRole('button', { name: 'Stop set-2' }));
    expect(confirmFn).toHaveBeenCalledWith('Stop engine set set-2 (mpi)? Its 2 engines (0–1) stop: what is defined on them is lost.');
    expect(api.stopEngineSet).not.toHaveBeenCalled();
    confirmFn.mockReturnValue(true);
    await fireEvent.click(screen.getByRole('button', { name: 'Stop set-2' }));
    await vi.waitFor(() => expect(store.toasts.map((t) => t.message)).toEqual(['stopped engine set set-2']));
    expect(api.stopEngineSet).toHaveBeenCalledWith({ set: 'set-2' });
  });

  it("shows the launcher's output, and a failing stop as a toast", async () => {
    store.engineSets = [set('set-1')];
    api.engineSetOutput.mockResolvedValue({ set: 'set-1', output: 'mpiexec: 2 ranks started\n' });
    api.stopEngineSet.mockRejectedValue(new ApiError('ControllerError', 'KeyError: no engine set set-1'));
    vi.stubGlobal('confirm', () => true);
    render(EngineSets);
    await fireEvent.click(screen.getByRole('button', { name: 'Show output of set-1' }));
    const out = await screen.findByTestId('set-output');
    expect(out.textContent).toContain('mpiexec: 2 ranks started');
    expect(api.engineSetOutput).toHaveBeenCalledWith({ set: 'set-1' });
    await fireEvent.click(screen.getByRole('button', { name: 'Close output' }));
    expect(screen.queryByTestId('set-output')).toBeNull();
    await fireEvent.click(screen.getByRole('button', { name: 'Stop set-1' }));
    await vi.waitFor(() => expect(store.toasts.map((t) => [t.kind, t.message])).toEqual([['error', 'ControllerError: KeyError: no engine set set-1']]));
  });
});

describe('engines grouped by host', () => {
  it('one host: the rows as today, no header', async () => {
    const { container } = await renderTable();
    expect(container.querySelectorAll('.host-head')).toHaveLength(0);
    expect(container.querySelectorAll('.row[data-engine-id]')).toHaveLength(3);
  });

  it('several hosts: a header per host with its name and counts, its engines under it', async () => {
    store.applyEngines({ rows: [engineRow(0, { host: 'hostb' }), engineRow(1, { host: 'hostc', state: 'busy' }), engineRow(2, { host: 'hostb', state: 'dead' }), engineRow(3, { host: 'hostc' })], removed: [], reset: true });
    const { container } = await renderTable();
    const order = [...container.querySelectorAll('.viewport .row')].map((r) => ((r as HTMLElement).dataset.host ? `[${(r as HTMLElement).dataset.host}]` : (r as HTMLElement).dataset.engineId));
    expect(order).toEqual(['[hostb]', '0', '2', '[hostc]', '1', '3']);
    const heads = [...container.querySelectorAll('.host-head')].map((h) => h.textContent?.replace(/\s+/g, ' ').trim());
    expect(heads).toEqual(['hostb 2 engines · 1 idle · 1 dead', 'hostc 2 engines · 1 busy · 1 idle']);
    // Shift-click selects a range in the order shown.
    await fireEvent.click(container.querySelector('.row[data-engine-id="0"]')!);
    await fireEvent.click(container.querySelector('.row[data-engine-id="1"]')!, { shiftKey: true });
    expect([...store.selected].sort()).toEqual([0, 1, 2]);
  });

  it('groupByHost keeps table order within a host and hosts in order of their first engine', async () => {
    const items = groupByHost([engineRow(0, { host: 'z' }), engineRow(1, { host: 'a' }), engineRow(2, { host: 'z' })]);
    expect(items.map((i) => (i.kind === 'host' ? `${i.host}:${i.rows.length}` : i.row.id))).toEqual(['z:2', 0, 2, 'a:1', 1]);
    expect(groupByHost([]).length).toBe(0);
  });
});

describe('the new-cluster form', () => {
  async function open(form = blankForm()) {
    api.getClusterForm.mockResolvedValue({ form, file: '/m/profile_app/cluster.json', exists: true, note: null });
    render(ClusterBar);
    await fireEvent.click(screen.getByRole('button', { name: 'New cluster…' }));
    const el = await screen.findByTestId('new-cluster-form');
    await vi.waitFor(() => expect(api.getClusterForm).toHaveBeenCalledWith({ profile: 'app' }));
    await tick();
    return within(el);
  }

  it("fills in the profile's cluster.json and shows the launcher's own fields", async () => {
    const f = await open(blankForm({ launcher: 'slurm', n: 8, slurmPartition: 'debug', slurmTime: '30' }));
    expect((f.getByLabelText('Engines') as HTMLInputElement).value).toBe('8');
    expect((f.getByLabelText('Launcher') as HTMLSelectElement).value).toBe('slurm');
    expect((f.getByLabelText('Partition') as HTMLInputElement).value).toBe('debug');
    expect((f.getByLabelText('Time limit') as HTMLInputElement).value).toBe('30');
    expect(f.queryByLabelText('Hosts')).toBeNull();
    await choose(f.getByLabelText('Launcher'), 'ssh');
    expect(f.getByLabelText('Hosts')).toBeTruthy();
    expect(f.getByLabelText('ssh command')).toBeTruthy();
    expect(f.queryByLabelText('Partition')).toBeNull();
    await choose(f.getByLabelText('Launcher'), 'mpi');
    expect(f.getByLabelText('mpiexec arguments')).toBeTruthy();
    expect(f.getByText('/m/profile_app/cluster.json')).toBeTruthy();
  });

  it('replacing the running cluster asks first; an error about a field stands under it', async () => {
    const confirmFn = vi.fn(() => false);
    vi.stubGlobal('confirm', confirmFn);
    const f = await open();
    await choose(f.getByLabelText('Launcher'), 'ssh');
    await fireEvent.input(f.getByLabelText('Hosts'), { target: { value: 'b:2' } });
    await fireEvent.click(f.getByRole('button', { name: 'Save and start' }));
    expect(confirmFn).toHaveBeenCalledWith('Start 3 node engines through ssh in profile "app"? The running cluster and its 3 engines stop: everything defined on them is lost.');
    expect(api.startNewCluster).not.toHaveBeenCalled();

    confirmFn.mockReturnValue(true);
    api.startNewCluster.mockRejectedValue(new ApiError('Error', 'The hosts add up to 2 engines, but 3 are asked for: make them agree', 'sshHosts'));
    await fireEvent.click(f.getByRole('button', { name: 'Save and start' }));
    await vi.waitFor(() => expect(f.getByRole('alert').textContent).toBe('The hosts add up to 2 engines, but 3 are asked for: make them agree'));
    expect(f.getByLabelText('Hosts').getAttribute('aria-invalid')).toBe('true');
    expect(f.getByLabelText('Hosts').getAttribute('aria-describedby')).toBe('nc-sshHosts-error');
    expect(api.startNewCluster).toHaveBeenCalledWith(blankForm({ launcher: 'ssh', sshHosts: 'b:2' }));
    expect(store.toasts).toEqual([]);
  });

  it('starts through the form without asking when no cluster runs, then closes', async () => {
    store.cluster = clusterSnapshot('stopped');
    const confirmFn = vi.fn(() => true);
    vi.stubGlobal('confirm', confirmFn);
    api.startNewCluster.mockResolvedValue(clusterSnapshot('running'));
    const f = await open();
    await choose(f.getByLabelText('Launcher'), 'mpi');
    await fireEvent.input(f.getByLabelText('mpiexec arguments'), { target: { value: '--bind-to none' } });
    await fireEvent.input(f.getByLabelText('Engines'), { target: { value: '2' } });
    await fireEvent.click(f.getByRole('button', { name: 'Save and start' }));
    await vi.waitFor(() => expect(screen.queryByTestId('new-cluster-form')).toBeNull());
    expect(confirmFn).not.toHaveBeenCalled();
    expect(api.startNewCluster).toHaveBeenCalledWith(blankForm({ n: 2, launcher: 'mpi', mpiArgs: '--bind-to none' }));
    expect(store.toasts.map((t) => t.message)).toEqual(['started 2 node engines through mpi; saved to /m/profile_app/cluster.json']);
  });

  it("a start that failed keeps the form open and says why", async () => {
    store.cluster = clusterSnapshot('stopped');
    api.startNewCluster.mockResolvedValue({ ...clusterSnapshot('error'), error: 'cannot start a cluster of 3 node engines through mpi: mpiexec: not found' });
    const f = await open();
    await fireEvent.click(f.getByRole('button', { name: 'Save and start' }));
    await vi.waitFor(() => expect(store.toasts.map((t) => [t.kind, t.message])).toEqual([['error', 'cannot start a cluster of 3 node engines through mpi: mpiexec: not found']]));
    expect(screen.getByTestId('new-cluster-form')).toBeTruthy();
  });
});
