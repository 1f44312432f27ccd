// A load-balanced task the scheduler retried after a failed first attempt: the task history
// shows it finished (ok) after its retry, whichever order the controller's events come in,
// and failed when no retry follows. Events are fed to ClusterTasks as the client delivers
// them (rc.onTaskEvents); a real cluster's retry is in clusterTasks.spec.ts.
import { describe, expect, it } from 'vitest';
import type { TaskEvent, TaskEventBatch } from '../../../core/index.js';
import { ClusterTasks } from '../../../main/services/clusterTasks.js';
import { TaskLog } from '../../../main/services/taskLog.js';

const OWN = 1;
const SCRIPT = 2;

function ev(event: TaskEvent['event'], engineId: number | null, over: Partial<TaskEvent> = {}): TaskEvent {
  return { event, msg_id: 'lb-1', client: SCRIPT, msg_type: 'apply_request', engine_id: engineId, balanced: true, label: 'flaky', time: new Date().toISOString(), ...over };
}
const failed = (engineId: number) => ev('finished', engineId, { status: 'error', ename: 'Error', duration_ms: 1 });
const ok = (engineId: number) => ev('finished', engineId, { status: 'ok', duration_ms: 1 });

function history(): { tasks: ClusterTasks; log: TaskLog; feed(...events: TaskEvent[][]): void; task(): ReturnType<TaskLog['list']>[number] } {
  const log = new TaskLog(() => {}, 0);
  const tasks = new ClusterTasks(log);
  return {
    tasks,
    log,
    feed: (...batches) => {
      for (const events of batches) tasks.apply(OWN, { events } as TaskEventBatch);
    },
    task: () => log.list().find((t) => t.msgId === 'lb-1')!,
  };
}

describe('the task history of a retried load-balanced task', () => {
  it('a retry that succeeds after the failure was listed: the task ends ok, the failed attempt stays visible', () => {
    const h = history();
    h.feed([ev('submitted', null), ev('started', 0)], [failed(0)]);
    expect(h.task().state).toBe('error');
    h.feed([ev('started', 1)]);
    expect(h.task().state).toBe('running');
    h.feed([ok(1)]);
    const t = h.task();
    expect(t.state).toBe('ok');
    expect(t.engines.map((e) => [e.engineId, e.state])).toEqual([
      [0, 'error'],
      [1, 'ok'],
    ]);
  });

  it('the retry started before the failure is told (one batch of events): the task ends ok', () => {
    const h = history();
    h.feed([ev('submitted', null), ev('started', 0), ev('started', 1), failed(0)]);
    expect(h.task().state).toBe('running');
    h.feed([ok(1)]);
    expect(h.task().state).toBe('ok');
  });

  it('a retry that fails too leaves the task failed; one with no retry stays failed', () => {
    const h = history();
    h.feed([ev('submitted', null), ev('started', 0), failed(0)], [ev('started', 1), failed(1)]);
    expect(h.task().state).toBe('error');
    expect(h.task().engines.map((e) => e.state)).toEqual(['error', 'error']);
  });

  it('a direct request on two engines is not a retry: one engine failing fails the task', () => {
    const h = history();
    const direct = { balanced: false };
    h.feed([ev('submitted', null, direct), ev('started', 0, direct), ev('started', 1, direct), ev('finished', 0, { ...direct, status: 'error', ename: 'Error' }), ev('finished', 1, { ...direct, status: 'ok' })]);
    expect(h.task().state).toBe('error');
  });
});
