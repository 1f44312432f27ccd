/**
 * The clients' requests on task records: db_request (rc.dbQuery), history_request
 * (rc.hubHistory), purge_request (rc.purgeResults), queue_request (rc.queueStatus), and the
 * database's part of result_request (a stored value the in-memory ResultStore no longer holds,
 * such as one kept before a controller restart).
 */
import { createMessage, type ContentMap, type EngineInfo, type Header, type Json, type Message, type MsgType, type QueueCounts, type TaskRecord } from '../../protocol/messages.js';
import type { ClientRecord } from '../clientSession.js';
import type { Scheduler } from '../scheduler.js';
import type { WorkRouter } from '../workRouter.js';
import type { Connection } from '../../transport/connection.js';
import { replyTypeFor, RequestError, type Replier } from '../replies.js';
import type { ResultStore } from '../resultStore.js';
import type { Recorder } from './recorder.js';
import type { TaskDb } from './taskDb.js';

export interface TaskRequestsDeps {
  readonly db: TaskDb;
  readonly recorder: Recorder;
  /** Where resubmitted requests go, as work from the client does. */
  readonly router: Pick<WorkRouter, 'route' | 'keepAnswers'>;
  readonly scheduler: Pick<Scheduler, 'submit' | 'clientGone'>;
  readonly results: Pick<ResultStore, 'purge'>;
  readonly replier: Replier;
  engines(): EngineInfo[];
  unassigned(): number;
}

export class TaskRequests {
  constructor(private readonly d: TaskRequestsDeps) {}

  /** Finished records from the database, then those still running (status 'pending'); with `last`, the newest of these. */
  async query(c: ContentMap['db_request']): Promise<{ records: Partial<TaskRecord>[] }> {
    this.d.recorder.flush();
    const running = this.d.recorder.pending(c.filter, c.keys);
    if (c.last !== undefined && running.length >= c.last) return { records: running.slice(-c.last) };
    const done = await this.d.db.query(c.filter, c.keys, c.last === undefined ? undefined : c.last - running.length);
    return { records: [...done, ...running] };
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

  /**
   * Runs recorded execute/apply requests again with new msg_ids, to the same targets (or load-balanced
   * again). They belong to no session: as for a client that went away, their answers go to the
   * result store, where result_request (rc.getResult) finds them, running or done.
   */
  async resubmit(client: ClientRecord, c: ContentMap['resubmit_request']): Promise<{ msg_ids: string[] }> {
    this.d.recorder.flush();
    const requests = await Promise.all(c.msg_ids.map((id) => this.d.db.request(id)));
    const missing = c.msg_ids.filter((_, i) => requests[i] === undefined);
    if (missing.length > 0) throw new RequestError('KeyError', await this.whyNotKept(missing));
    // A session of its own (same connection, for errors at routing), gone at once: answers are kept.
    const owner: ClientRecord = { n: client.n, conn: client.conn, subscribe: 'none' };
    const ids: string[] = [];
    for (const r of requests) {
      const msg = createMessage(r!.msg_type as MsgType, JSON.parse(r!.content) as ContentMap['apply_request'], { session: this.d.replier.session, metadata: JSON.parse(r!.metadata) as { [k: string]: Json }, buffers: r!.buffers }) as Message;
      const parts = this.d.replier.signed(msg);
      this.d.recorder.received(client.n, msg);
      const replyType = replyTypeFor(msg.header.msg_type);
      if (msg.metadata.balanced === undefined) this.d.router.route(owner, msg, parts, replyType);
      else this.d.scheduler.submit(owner, msg, parts, replyType);
      ids.push(msg.header.msg_id);
    }
    this.d.router.keepAnswers(owner);
    this.d.scheduler.clientGone(owner);
    return { msg_ids: ids };
  }

  /** Why result_request found no value for `msgId` (in neither the result store nor the database), from its records. */
  async whyNoValue(msgId: string): Promise<string> {
    const head = `no result for msg_id ${msgId}`;
    if (!this.d.db.enabled) return `${head}: it was answered to its client, or evicted (the controller keeps the latest results of clients that went away; with --db none no task database keeps any)`;
    const kept = 'the controller keeps the values of clients that went away and of requests sent with store ({ store: true } in TypeScript, view.store = True in Python), within its caps';
    this.d.recorder.flush();
    const records = [...(await this.d.db.query({ msg_id: msgId }, ['status'])), ...this.d.recorder.pending({ msg_id: msgId }, ['status'])];
    if (records.length === 0) return `${head}: there is no task record of it (not a request of this cluster, purged, dropped by the task database's caps, or on a direct connection and not finished: its engine reports it when it ends)`;
    const ids = [...new Set(records.map((r) => r.engine_id).filter((e) => typeof e === 'number'))];
    const where = ids.length === 0 ? 'waiting for an engine' : `on engine${ids.length > 1 ? 's' : ''} ${ids.join(', ')}`;
    if (records.some((r) => r.status === 'pending')) return `${head} yet: it has not finished (${where}) and its value goes to the client that sent it; ${kept}`;
    return `${head}: it was answered to the client that sent it (${where}) and its value was not kept; ${kept}`;
  }

  /** Why resubmit has no request to run for these msg_ids, in the user's terms, from their records. */
  private async whyNotKept(missing: string[]): Promise<string> {
    if (!this.d.db.enabled) return `no request kept with msg_id ${missing.join(', ')}: this controller runs with --db none, which keeps none`;
    const records = await this.d.db.query({ msg_id: { $in: missing } }, ['msg_type']);
    const why = missing.map((id) => {
      const r = records.find((x) => x.msg_id === id);
      if (r === undefined) return `no task record with msg_id ${id}`;
      if (r.msg_type !== 'execute_request' && r.msg_type !== 'apply_request') return `msg_id ${id} is a ${r.msg_type}: only execute and apply requests can run again`;
      return `msg_id ${id} was not kept: it went to engine ${r.engine_id} on a direct connection, where the controller never sees a request's code, or its copy was dropped by the task database's caps (send requests through the controller to resubmit them: Client.connect({ direct: false }), Client(direct=False) in Python, or MULTIENGINE_DIRECT=0)`;
    });
    return why.join('; ');
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
    if (!this.d.db.enabled) return false;
    this.d.recorder.flush();
    const v = await this.d.db.value(msgId);
    if (v === undefined) return false;
    this.d.replier.reply(conn, request, 'result_reply', { status: 'ok', msg_id: v.msg_id, msg_type: v.msg_type, engine_ids: v.engine_ids, pending: [] });
    for (const parts of v.messages) conn.sendParts(this.d.replier.resign(parts));
    return true;
  }
}
