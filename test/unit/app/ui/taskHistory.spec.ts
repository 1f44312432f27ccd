// The task history panel with other clients' tasks: marked with their client, never taking the
// detail view from the app's own runs, and selecting one fetches its full record (getTask).
import { fireEvent, render, screen } from '@testing-library/svelte';
import { tick } from 'svelte';
import { afterEach, beforeEach, describe, expect, it, type Mock } from 'vitest';
import type { TaskRecord } from '../../../../preload/contract';
import TaskHistory from '../../../../renderer/components/TaskHistory.svelte';
import { setApi } from '../../../../renderer/lib/api';
import { store } from '../../../../renderer/lib/state.svelte';
import { fakeApi } from './fakeApi';

function task(id: number, patch: Partial<TaskRecord> = {}): TaskRecord {
  return {
    id,
    kind: 'execute',
    code: `x = ${id}`,
    targets: [0],
    state: 'ok',
    started: Date.now(),
    durationMs: 3,
    engines: [{ engineId: 0, state: 'ok', durationMs: 3, stdout: '', stderr: '', executionCount: null, result: null, error: null }],
    ...patch,
  };
}

describe('TaskHistory with other clients’ tasks', () => {
  let api: Record<string, Mock>;
  beforeEach(() => {
    const fake = fakeApi();
    api = fake.mocks;
    setApi(fake.api);
    store.activeTask = null;
  });
  afterEach(() => setApi(null));

  it('lists them with their client, leaves the selection alone, and shows the fetched record when selected', async () => {
    store.applyTask(task(101));
    expect(store.activeTask).toBe(101);
    const other = task(102, { msgId: 'm-102', client: 7, label: null, code: 'console.log("from a script")' });
    store.applyTask(other);
    expect(store.activeTask, "another client's task does not take the detail view").toBe(101);
    const { container } = render(TaskHistory);
    await tick();
    const entry = container.querySelector('[data-task-id="102"]') as HTMLElement;
    expect(entry.textContent).toMatch(/client 7/);
    expect(container.querySelector('[data-task-id="101"]')?.textContent).not.toMatch(/client/);

    const full = task(102, { ...other, engines: [{ ...other.engines[0], stdout: 'from a script\n' }] });
    api.getTask.mockResolvedValue(full);
    await fireEvent.click(entry);
    expect(api.getTask).toHaveBeenCalledWith({ id: 102 });
    await tick();
    await tick();
    expect(screen.getByTestId('task-detail').textContent).toMatch(/\[stdout:0\]\s*from a script/);

    // The app's own task needs no fetch: it has its output already.
    api.getTask.mockClear();
    await fireEvent.click(container.querySelector('[data-task-id="101"]') as HTMLElement);
    expect(api.getTask).not.toHaveBeenCalled();
  });
});
