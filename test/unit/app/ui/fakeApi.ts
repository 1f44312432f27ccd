// A MultiengineApi whose every function is a vi.fn, for component tests.
import { vi, type Mock } from 'vitest';
import { API_KEYS, type ClusterSnapshot, type EngineRow, type MultiengineApi } from '../../../../preload/contract';

export interface FakeApi {
  /** The implementation to install with setApi. */
  api: MultiengineApi;
  /** The same functions, as mocks. */
  mocks: Record<string, Mock>;
}

export function fakeApi(): FakeApi {
  const mocks: Record<string, Mock> = {};
  for (const k of API_KEYS) mocks[k] = k.startsWith('on') ? vi.fn(() => () => {}) : vi.fn(async () => undefined);
  return { api: mocks as unknown as MultiengineApi, mocks };
}

export function engineRow(id: number, patch: Partial<EngineRow> = {}): EngineRow {
  return {
    id,
    kernel: 'node',
    languageVersion: '20.20.2',
    host: 'host-a',
    pid: 1000 + id,
    state: 'idle',
    queue: 0,
    balanced: 0,
    tasksDone: 0,
    currentTask: null,
    registered: Date.now() - 5000,
    restarts: 0,
    reason: null,
    cpu: 1.5,
    rss: 50 * 1024 * 1024,
    rssHistory: [1, 2, 3],
    ...patch,
  };
}

/** A local cluster's snapshot in `status`, with `settings` over three node engines. */
export function clusterSnapshot(status: ClusterSnapshot['status'], settings: Partial<ClusterSnapshot['settings']> = {}): ClusterSnapshot {
  return {
    status,
    mode: 'local',
    profile: 'app',
    connectionFile: '/x/client.json',
    controllerPid: 42,
    error: null,
    ended: null,
    settings: { engineCount: 3, engineKind: 'node', attach: false, profile: 'app', ...settings },
    balancing: status === 'running' ? { scheme: 'leastload', hwm: 2, unassigned: 0 } : null,
  };
}
