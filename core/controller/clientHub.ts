/**
 * The clients' side of the controller: sessions, their engine_event subscriptions, and the
 * requests that are not work (connect, status, stored results, engine control, shutdown).
 * Work, interrupt and abort requests go on to the work router.
 */
import type { ContentMap, EngineState, Message, MsgType } from '../protocol/messages.js';
import { checkContent, describe, WireError } from '../protocol/validate.js';
import type { Connection } from '../transport/connection.js';
import type { ClientRecord, Subscription } from './clientSession.js';
import type { EngineProbes } from './engineProbes.js';
import type { EngineRecord } from './engineRecord.js';
import type { EngineEventKind, EngineRegistry } from './engineRegistry.js';
import type { EngineSets } from './engineSets.js';
import { LaunchError } from '../kernels/launch.js';
import { log } from './log.js';
import { OK, type Replier, replyTypeFor, RequestError } from './replies.js';
import type { ResultStore } from './resultStore.js';
import type { Scheduler } from './scheduler.js';
import type { Recorder } from './taskDb/recorder.js';
import type { TaskRequests } from './taskDb/taskRequests.js';
import type { TaskEventFeed } from './taskEvents.js';
import type { WorkRouter } from './workRouter.js';

/** Work requests: forwarded to engines and answered once per target with `<type>_reply`. */
const WORK_REPLY: ReadonlyMap<string, MsgType> = new Map<string, MsgType>([
  ['execute_request', 'execute_reply'],
  ['apply_request', 'apply_reply'],
  ['push_request', 'push_reply'],
  ['pull_request', 'pull_reply'],
  ['keys_request', 'keys_reply'],
  ['clear_request', 'clear_reply'],
]);

/** Stopping and restarting engines on a client's request (the supervisor). */
export interface EngineControl {
  engine(id: number): EngineRecord;
  stop(e: EngineRecord): Promise<void>;
  restart(e: EngineRecord): Promise<number>;
}

export interface ClientHubDeps {
  readonly registry: Pick<EngineRegistry, 'list'>;
  readonly router: Pick<WorkRouter, 'route' | 'interrupt' | 'interruptEngines' | 'abort' | 'clientGone'>;
  /** Load-balanced tasks (work requests with metadata.balanced). */
  readonly scheduler: Pick<Scheduler, 'submit' | 'abort' | 'runningOn' | 'clientGone'>;
  readonly control: EngineControl;
  /** stack_request and profile_request: to the engine's heart and back. */
  readonly probes: Pick<EngineProbes, 'request' | 'clientGone'>;
  /** Engine sets: adding engines (through a launcher), listing, stopping them, their launchers' output. */
  readonly sets: Pick<EngineSets, 'add' | 'stop' | 'output' | 'list' | 'restart'>;
  readonly results: Pick<ResultStore, 'get' | 'watch' | 'unwatch'>;
  /** Task records: every work request is noted as it arrives; the requests on records are answered there. */
  readonly recorder: Pick<Recorder, 'received' | 'connected'>;
  readonly tasks: TaskRequests;
  /** task_events subscribers (connect_request task_events: true). */
  readonly taskEvents: Pick<TaskEventFeed, 'subscribe' | 'unsubscribe'>;
  readonly replier: Replier;
  readonly settings: Pick<ContentMap['connect_reply'] & { status: 'ok' }, 'heartbeat_ms' | 'max_message_bytes' | 'reconnect_ms'>;
  /** status_reply's fields beside engines and clients. */
  status(): Pick<ContentMap['status_reply'] & { status: 'ok' }, 'dropped_messages' | 'result_store' | 'memory' | 'listen' | 'unassigned' | 'scheme' | 'hwm' | 'task_db'>;
  shutdown(): void;
  /** A request failed in a way no check foresaw (logged and counted). */
  failed(what: string, e: unknown): void;
}

export class ClientHub {
  private readonly clients = new Set<ClientRecord>();
  private readonly regSubscribers = new Set<ClientRecord>();
  private readonly allSubscribers = new Set<ClientRecord>();
  private clientCount = 0;

  constructor(private readonly d: ClientHubDeps) {}

  get size(): number {
    return this.clients.size;
  }

  /** A connection whose first message is connect_request: a new session. */
  open(conn: Connection): ClientRecord {
    const client: ClientRecord = { n: ++this.clientCount, conn, subscribe: 'none' };
    this.clients.add(client);
    return client;
  }

  onMessage(client: ClientRecord, msg: Message, parts: Buffer[]): void {
    const type: string = msg.header.msg_type;
    const work = WORK_REPLY.get(type);
    if (work !== undefined) {
      this.d.recorder.received(client.n, msg);
      if (msg.metadata.balanced === undefined) this.d.router.route(client, msg, parts, work);
      else this.d.scheduler.submit(client, msg, parts, work);
      return;
    }
    switch (type) {
      case 'connect_request':
        return this.onConnect(client, msg);
      case 'status_request':
        return this.d.replier.reply(client.conn, msg.header, 'status_reply', {
          status: 'ok',
          engines: this.d.registry.list(),
          clients: this.clients.size,
          engine_sets: this.d.sets.list(),
          ...this.d.status(),
        });
      case 'result_request':
        return this.onResultRequest(client, msg);
      case 'db_request':
        return this.answer(client, msg, type, 'db_reply', (c) => this.d.tasks.query(c));
      case 'history_request':
        return this.answer(client, msg, type, 'history_reply', () => this.d.tasks.history());
      case 'purge_request':
        return this.answer(client, msg, type, 'purge_reply', (c) => this.d.tasks.purge(c));
      case 'resubmit_request':
        return this.answer(client, msg, type, 'resubmit_reply', (c) => this.d.tasks.resubmit(client, c));
      case 'queue_request':
        return this.answer(client, msg, type, 'queue_reply', () => this.d.tasks.queue());
      case 'interrupt_request':
        return this.onInterrupt(client, msg);
      case 'stack_request':
      case 'profile_request':
        return this.d.probes.request(client, msg, type);
      case 'abort_request':
        return this.onAbort(client, msg, parts);
      case 'add_engines_request':
        return this.answer(client, msg, type, 'add_engines_reply', (c) => this.d.sets.add({ ...c, engine: c.engine ?? 'node' }));
      case 'engine_sets_request':
        return this.answer(client, msg, type, 'engine_sets_reply', async () => ({ sets: this.d.sets.list() }));
      case 'stop_engine_set_request':
        return this.answer(client, msg, type, 'stop_engine_set_reply', async (c) => {
          await this.d.sets.stop(c.set);
          return {};
        });
      case 'engine_set_output_request':
        return this.answer(client, msg, type, 'engine_set_output_reply', async (c) => ({ output: this.d.sets.output(c.set) }));
      case 'stop_engine_request':
        return this.answer(client, msg, type, 'stop_engine_reply', async (c) => {
          await this.d.control.stop(this.d.control.engine(c.id));
          return {};
        });
      case 'restart_engine_request':
        return this.answer(client, msg, type, 'restart_engine_reply', async (c) => {
          const e = this.d.control.engine(c.id);
          return { id: (await this.d.sets.restart(e)) ?? (await this.d.control.restart(e)) };
        });
      case 'controller_shutdown_request':
        log.info(`shutdown requested by client ${client.n}`);
        this.d.replier.reply(client.conn, msg.header, 'controller_shutdown_reply', OK);
        this.d.shutdown();
        return;
      default:
        this.refuse(client, msg, type.endsWith('_request') ? `unknown msg_type ${describe(type)}` : `msg_type ${describe(type)} is not accepted from a client`);
    }
  }

  private refuse(client: ClientRecord, msg: Message, why: string): void {
    this.d.replier.error(client.conn, msg.header, replyTypeFor(msg.header.msg_type), 'ProtocolError', why);
  }

  /** The checked content of a client's request, or null after an error reply naming the field. */
  private checked<T extends MsgType>(client: ClientRecord, msg: Message, type: T): ContentMap[T] | null {
    try {
      return checkContent(type, msg.content);
    } catch (e) {
      this.d.replier.error(client.conn, msg.header, replyTypeFor(msg.header.msg_type), (e as WireError).ename, (e as Error).message);
      return null;
    }
  }

  private onConnect(client: ClientRecord, msg: Message): void {
    const c = this.checked(client, msg, 'connect_request');
    if (!c) return;
    const sub = c.subscribe ?? 'none';
    this.subscribe(client, sub);
    this.d.recorder.connected(client.n, msg.header.session);
    if (c.task_events === true) this.d.taskEvents.subscribe(client);
    else this.d.taskEvents.unsubscribe(client);
    this.d.replier.reply(client.conn, msg.header, 'connect_reply', { status: 'ok', engines: this.d.registry.list(), controller_pid: process.pid, client: client.n, ...this.d.settings });
    log.debug(`client ${client.n} connected (subscribe ${sub}${c.task_events === true ? ', task events' : ''})`);
  }

  private subscribe(client: ClientRecord, sub: Subscription): void {
    client.subscribe = sub;
    this.regSubscribers.delete(client);
    this.allSubscribers.delete(client);
    if (sub === 'registration') this.regSubscribers.add(client);
    else if (sub === 'all') this.allSubscribers.add(client);
  }

  /**
   * interrupt_request: with metadata.targets, to those engines; without, its msg_ids name
   * load-balanced tasks, and it goes to the engines that run them (each interrupts the named
   * request if it runs it, and drops the named ones it holds).
   */
  private onInterrupt(client: ClientRecord, msg: Message): void {
    if (msg.metadata.targets !== undefined) return this.d.router.interrupt(client, msg);
    const c = this.checked(client, msg, 'interrupt_request');
    if (!c) return;
    if (c.msg_ids === undefined) {
      this.d.replier.error(client.conn, msg.header, 'interrupt_reply', 'ValueError', 'interrupt_request needs metadata.targets (engines to interrupt) or msg_ids (load-balanced tasks to interrupt)');
      return;
    }
    this.d.router.interruptEngines(this.d.scheduler.runningOn(c.msg_ids), c.msg_ids, msg.header);
    this.d.replier.reply(client.conn, msg.header, 'interrupt_reply', OK);
  }

  /**
   * abort_request: balanced tasks among its msg_ids are dropped (or, once sent, aborted on their
   * engine) by the scheduler; with metadata.targets, the targets' queues as before.
   */
  private onAbort(client: ClientRecord, msg: Message, parts: Buffer[]): void {
    if (msg.metadata.targets !== undefined) {
      const ids = (msg.content as { msg_ids?: unknown }).msg_ids;
      if (Array.isArray(ids) && ids.every((x) => typeof x === 'string')) this.d.scheduler.abort(ids as string[], null);
      this.d.router.abort(client, msg, parts);
      return;
    }
    const c = this.checked(client, msg, 'abort_request');
    if (!c) return;
    if (c.msg_ids === undefined) {
      this.d.replier.error(client.conn, msg.header, 'abort_reply', 'ValueError', 'abort_request needs metadata.targets (engines whose queues to drop) or msg_ids (requests to drop, such as load-balanced tasks)');
      return;
    }
    this.d.scheduler.abort(c.msg_ids, parts);
    this.d.replier.reply(client.conn, msg.header, 'abort_reply', OK);
  }

  /** result_reply, then the stored messages as they were; a request still running sends the rest as it comes. */
  private onResultRequest(client: ClientRecord, msg: Message): void {
    const c = this.checked(client, msg, 'result_request');
    if (!c) return;
    const id = c.msg_id;
    const r = this.d.results.get(id);
    if (r === undefined) {
      const notFound = (why: string) => this.d.replier.error(client.conn, msg.header, 'result_reply', 'KeyError', why);
      const generic = `no result for msg_id ${id}: it was answered to its client, or evicted`;
      this.d.tasks.sendValue(client.conn, msg.header, id).then(
        (sent) => {
          if (!sent) void this.d.tasks.whyNoValue(id).then(notFound, () => notFound(generic));
        },
        (e: unknown) => {
          this.d.failed('result_request', e);
          notFound(generic);
        },
      );
      return;
    }
    this.d.replier.reply(client.conn, msg.header, 'result_reply', { status: 'ok', msg_id: id, msg_type: r.header.msg_type, engine_ids: [...r.engineIds], pending: [...r.pending] });
    for (const parts of r.messages) client.conn.sendParts(parts);
    this.d.results.watch(r, client);
  }

  /** Runs a slow request on its checked content and replies with its result, or an error reply naming what went wrong. */
  private answer<T extends MsgType, R extends MsgType>(client: ClientRecord, msg: Message, type: T, replyType: R, run: (c: ContentMap[T]) => Promise<Record<string, unknown>>): void {
    const c = this.checked(client, msg, type);
    if (!c) return;
    run(c).then(
      (result) => this.d.replier.reply(client.conn, msg.header, replyType, { status: 'ok', ...result } as unknown as ContentMap[R]),
      (e: unknown) => {
        const ename = e instanceof RequestError ? e.ename : e instanceof LaunchError ? 'LaunchError' : 'ControllerError';
        if (!(e instanceof RequestError) && !(e instanceof LaunchError)) this.d.failed(replyType, e);
        this.d.replier.error(client.conn, msg.header, replyType, ename, (e as Error)?.message ?? String(e));
      },
    );
  }

  /**
   * engine_event to subscribers. 'all' subscribers get every change. 'registration' subscribers
   * get registrations, deaths, and going into or out of 'unresponsive': rare, and what a user
   * must see (a hung engine), unlike busy/idle churn. Encoded once, the same parts to each.
   */
  publish(event: EngineEventKind, e: EngineRecord, from?: EngineState): void {
    const toReg = event !== 'state' || e.state === 'dead' || e.state === 'unresponsive' || from === 'unresponsive';
    if (this.allSubscribers.size === 0 && (!toReg || this.regSubscribers.size === 0)) return;
    const parts = this.d.replier.encode('engine_event', { event, engine: e.info() });
    for (const c of this.allSubscribers) c.conn.sendParts(parts);
    if (toReg) for (const c of this.regSubscribers) c.conn.sendParts(parts);
  }

  /** The client's connection closed: its unanswered requests keep running, their answers go to the result store. */
  drop(client: ClientRecord): void {
    this.clients.delete(client);
    this.regSubscribers.delete(client);
    this.allSubscribers.delete(client);
    this.d.taskEvents.unsubscribe(client);
    this.d.results.unwatch(client);
    this.d.probes.clientGone(client);
    const kept = this.d.router.clientGone(client) + this.d.scheduler.clientGone(client);
    if (kept) log.info(`client ${client.n} disconnected with ${kept} unanswered request${kept === 1 ? '' : 's'}; their results go to the result store`);
    else log.debug(`client ${client.n} disconnected`);
  }

  /** Lets the last replies reach the clients, then hangs up (at most `graceMs` later). */
  async closeAll(graceMs: number): Promise<void> {
    const closed = [...this.clients].map((c) => new Promise<void>((r) => (c.conn.isClosed ? r() : c.conn.socket.once('close', () => r()))));
    for (const c of this.clients) c.conn.close();
    await Promise.race([Promise.all(closed), new Promise((r) => setTimeout(r, graceMs))]);
    for (const c of this.clients) c.conn.destroy();
  }
}
