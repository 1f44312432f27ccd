/**
 * The clients' requests on task records: db_request (rc.dbQuery), history_request
 * (rc.hubHistory), purge_request (rc.purgeResults), queue_request (rc.queueStatus), and the
 * database's part of result_request (a stored value the in-memory ResultStore no longer holds,
 * such as one kept before a controller restart).
 */
import type { ContentMap, EngineInfo, Header, QueueCounts, TaskRecord } from '../../protocol/messages.js';
import type { Connection } from '../../transport/connection.js';
import type { Replier } from '../replies.js';
import type { ResultStore } from '../resultStore.js';
import type { Recorder } from './recorder.js';
import type { TaskDb } from './taskDb.js';

export interface TaskRequestsDeps {
  readonly db: TaskDb;
  readonly recorder: Recorder;
  readonly results: Pick<ResultStore, 'purge'>;
  readonly replier: Replier;
  engines(): EngineInfo[];
  unassigned(): number;
}

export class TaskRequests {
  constructor(private readonly d: TaskRequestsDeps) {}

  /** Finished records from the database, then those still running (status 'pending'). */
  async query(c: ContentMap['db_request']): Promise<{ records: Partial<TaskRecord>[] }> {
    this.d.recorder.flush();
    const done = await this.d.db.query(c.filter, c.keys);
    return { records: [...done, ...this.d.recorder.pending(c.filter, c.keys)] };
  }

  async history(): Promise<{ msg_ids: string[] }> {
    this.d.recorder.flush();
    const ids = new Set(await this.d.db.history());
    for (const id of this.d.recorder.pendingIds()) ids.add(id);
    return { msg_ids: [...ids] };
  }

  /** Finished records go (and, unless targets limit it, their stored values); running requests are not touched. */
  async purge(c: ContentMap['purge_request']): Promise<{ purged: number }> {
    this.d.recorder.flush();
    const purged = await this.d.db.purge(c.msg_ids, c.targets);
    if (c.targets === undefined) this.d.results.purge(c.msg_ids);
    return { purged };
  }

  queue(): Promise<{ engines: QueueCounts[]; unassigned: number }> {
    const engines = this.d.engines().map((e) => {
      const running = e.current_task ? 1 : 0;
      return { id: e.id, queued: Math.max(0, e.queue - running), running, completed: e.tasks_done ?? 0 };
    });
    return Promise.resolve({ engines, unassigned: this.d.unassigned() });
  }

  /**
   * A result the database keeps: result_reply, then its messages (signed again: the key may have
   * changed since). False when it keeps none.
   */
  async sendValue(conn: Connection, request: Header, msgId: string): Promise<boolean> {
    if (!this.d.db.keepsValues) return false;
    this.d.recorder.flush();
    const v = await this.d.db.value(msgId);
    if (v === undefined) return false;
    this.d.replier.reply(conn, request, 'result_reply', { status: 'ok', msg_id: v.msg_id, msg_type: v.msg_type, engine_ids: v.engine_ids, pending: [] });
    for (const parts of v.messages) conn.sendParts(this.d.replier.resign(parts));
    return true;
  }
}
