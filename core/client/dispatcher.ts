/**
 * RequestDispatcher: a client's pending work and the way it travels. Each work request goes
 * on the path the PathGate allows (a direct connection to its one engine, or the controller)
 * or is held back until it may; every reply and output stream is routed to its result by
 * msg_id: one Map lookup per message, no scans. Control requests are matched here too.
 */
import type { EngineInfo, Message, Metadata, MsgType, ContentMap } from '../protocol/messages.js';
import { createMessage, isWorkRequest } from '../protocol/messages.js';
import { checkContent, engineIdOf, parentIdOf } from '../protocol/validate.js';
import type { Connection } from '../transport/connection.js';
import { Conversation } from '../transport/spin.js';
import { AsyncResult, ResultTracker, type ResultSpec, type StreamName } from './asyncResult.js';
import { ControlCalls } from './controlCalls.js';
import { DirectLinks } from './directLinks.js';
import { AbortError, ConnectionError, EngineError, MessageTooLargeError, RemoteError, TimeoutError } from './errors.js';
import { PathGate, type Path } from './pathGate.js';
import { checkWorkReply, replyDecoderFor, workFailure, workReplyOf, type OkReply } from './replyDecoders.js';
import type { BalancedSubmission, ResultSink, WorkSubmission } from './viewHost.js';
import { encodeRequest, encodeWork } from './workFrame.js';
import { answerOf, balancedWork, pendingWork, type PendingWork } from './pendingWork.js';

/** The dispatcher's view of the controller connection (ControllerLink). */
export interface ControllerPort {
  /** The current connection (a new one after a reconnection). */
  readonly conn: Connection;
  readonly maxMessageBytes: number;
  /** Why nothing can be sent now, or undefined when the connection is up. */
  openError(what: string): ConnectionError | undefined;
}

export interface DispatcherOptions {
  session: string;
  port: ControllerPort;
  /** The live record of an engine (not a copy): for its direct address. */
  engine(id: number): EngineInfo | undefined;
  /** engine_event pushes, which come in among the replies (checked). */
  onEngineEvent(ev: ContentMap['engine_event']): void;
  /** task_events pushes (checked), for a client that asked for them. */
  onTaskEvents(batch: ContentMap['task_events']): void;
  /** A malformed message that answers nothing of ours (an event, a stream) was dropped. */
  onDropped(why: string): void;
  /** Open direct connections to engines (protocol section 13). */
  direct: boolean;
}

export class RequestDispatcher {
  private readonly work = new Map<string, PendingWork>();
  /**
   * msg_ids of the work requests sent, oldest first (Client.history). Only these strings are
   * kept, not finished results: holding results past their AsyncResults (strongly or with a
   * WeakRef each) cost a client 2–5 µs per request in async bursts (measured).
   */
  readonly history: string[] = [];
  /** result_requests on their way, by the msg_id asked for: asking again waits for the same. */
  private readonly fetching = new Map<string, Promise<unknown[]>>();
  /**
   * Requests answered while the rest of their result still runs (a map's other tasks), by msg_id:
   * getResult answers them from that result, which holds their values anyway, until it is done.
   */
  private readonly answeredInPending = new Map<string, PendingWork>();
  /** The msg_ids kept in answeredInPending, per result: they go when it is done. */
  private readonly pendingResults = new Map<PendingWork['sink'], string[]>();
  readonly control = new ControlCalls();
  private readonly outstanding = new Set<AsyncResult<unknown>>();
  /** Which engine a sender session belongs to: learned from replies, seeded with engine uuids. */
  private readonly sessionEngine = new Map<string, number>();
  private readonly gate = new PathGate<PendingWork>();
  /** Direct requests whose replies come quickly get a polling client (transport/spin). */
  private readonly conversation = new Conversation();
  /** Direct connections to engines; null when turned off. */
  private readonly links: DirectLinks | null;
  private readonly port: ControllerPort;
  private readonly session: string;

  constructor(private readonly opts: DispatcherOptions) {
    this.port = opts.port;
    this.session = opts.session;
    this.links = !opts.direct
      ? null
      : new DirectLinks({
          signer: opts.port.conn.signer,
          session: opts.session,
          maxMessageBytes: () => this.port.maxMessageBytes,
          onMessage: (m) => this.onMessage(m),
          onPlaceParts: (m, rest) => this.placeParts(m, rest),
          onLinkClosed: (id) => this.onLinkClosed(id),
        });
  }

  /** Engines with a ready direct connection. */
  get directEngines(): number[] {
    return this.links?.readyIds() ?? [];
  }

  get outstandingResults(): AsyncResult<unknown>[] {
    return [...this.outstanding];
  }

  // ---- control requests

  /** Sends a controller request; resolves with its ok reply content, rejects with ControllerError. */
  request<T extends MsgType>(msgType: T, content: ContentMap[T], timeoutMs?: number, metadata?: Metadata): Promise<OkReply<T>> {
    const closed = this.port.openError(msgType);
    if (closed) return Promise.reject(closed);
    const msg = createMessage(msgType, content, { session: this.session, metadata });
    const reply = this.control.expect(msg.header.msg_id, msgType, (c) => c, timeoutMs);
    this.port.conn.send(msg);
    return reply;
  }

  // ---- results and work

  newResult<T>(spec: ResultSpec<T>): { result: AsyncResult<T>; tracker: ResultTracker<T> } {
    const tracker = new ResultTracker<T>({
      ...spec,
      abort: spec.abort ?? ((msgIds, engineIds) => this.abort(msgIds, engineIds)),
      interrupt: spec.interrupt ?? ((msgIds, engineIds) => this.request('interrupt_request', { msg_ids: msgIds }, undefined, { targets: engineIds }).then(() => undefined)),
    });
    const result = new AsyncResult<T>(tracker);
    if (!tracker.done) {
      this.outstanding.add(result);
      tracker.whenDone(() => this.outstanding.delete(result));
    }
    return { result, tracker };
  }

  /** ONE message per submission for any number of targets (metadata.targets), each pending by its msg_id. */
  submit(list: readonly WorkSubmission[]): void {
    if (list.length === 0) return;
    const closed = this.port.openError(list[0].msgType);
    if (closed) throw closed;
    const signer = this.port.conn.signer;
    const prepared = list.map((s) => {
      // A single-engine request in a quick direct conversation asks the engine to poll after replying
      // (encoded so once: a request that goes through the controller anyway is not polled for).
      const poll = s.store !== true && s.targets.length === 1 && this.conversation.isQuick && this.links?.isReady(s.targets[0]) === true;
      return encodeWork(s, this.session, signer, poll);
    });
    this.refuseTooLarge(prepared);
    for (const { s, msgId, date, frame } of prepared) {
      const w = pendingWork('held', msgId, date, s.targets, s.slots, s.sink, s.method ?? s.msgType.replace(/_request$/, ''), workReplyOf(s.msgType), s.decode, frame, s.place);
      // Stored by the controller: it must see the reply.
      if (s.store === true) w.viaController = true;
      this.work.set(msgId, w);
      this.history.push(msgId);
      this.route(w);
    }
  }

  /**
   * Load-balanced tasks: to the controller's scheduler, with metadata.balanced and no targets.
   * They are not gated (no engine is known; ordering across engines is not promised for them),
   * and each reply, from whichever engine ran it, fills the task's one slot.
   */
  submitBalanced(list: readonly BalancedSubmission[]): void {
    if (list.length === 0) return;
    const closed = this.port.openError(list[0].msgType);
    if (closed) throw closed;
    const signer = this.port.conn.signer;
    const prepared = list.map((s) => encodeRequest(s, { balanced: s.balanced }, this.session, signer));
    this.refuseTooLarge(prepared);
    const conn = this.port.conn;
    for (const { s, msgId, date, frame } of prepared) {
      this.work.set(msgId, balancedWork(msgId, date, s.slot, s.sink, s.method, workReplyOf(s.msgType), s.decode));
      this.history.push(msgId);
      if (frame !== null) conn.sendFrame(frame);
    }
  }

  /** When one of the messages is over the maximum size, none is sent: their results end with MessageTooLargeError, which is thrown. */
  private refuseTooLarge(prepared: readonly { s: { msgType: string; sink: ResultSink }; size: number }[]): void {
    const max = this.port.maxMessageBytes;
    for (const p of prepared) {
      if (p.size <= max) continue;
      const err = new MessageTooLargeError(p.s.msgType.replace(/_request$/, ''), p.size, max);
      for (const q of prepared) q.s.sink.expire(err);
      throw err;
    }
  }

  /**
   * Sends a request on the path the PathGate allows: straight to its one engine when a direct
   * connection is ready, else through the controller; or holds it back until this client's
   * requests on the other path to its engines have been answered.
   */
  private route(w: PendingWork): void {
    const { targets } = w;
    const blocked = this.gate.isBlocked(targets);
    const direct = blocked || w.viaController === true ? undefined : this.directLinkFor(targets);
    const path: Path | null = direct !== undefined ? 'direct' : !blocked && targets.every((t) => this.gate.allows(t, 'controller')) ? 'controller' : null;
    if (path === null) {
      w.path = 'held';
      this.gate.hold(w);
      return;
    }
    w.path = path;
    this.gate.sent(targets, path);
    (direct ?? this.port.conn).sendFrame(w.frame!);
    w.frame = null;
    // The poll hint was decided when the request was made (submit).
    if (direct !== undefined) this.conversation.sent();
  }

  /**
   * The ready direct connection for a single-engine request that may go that way (nothing of
   * ours is in flight to the engine through the controller). A request for several engines
   * goes to the controller, which sends it on: with several engines sharing few cores, sending
   * to each costs the client about what the saved hop would (measured, docs/benchmarks.md).
   */
  private directLinkFor(targets: readonly number[]): Connection | undefined {
    if (this.links === null || targets.length !== 1 || !this.gate.allows(targets[0], 'direct')) return undefined;
    return this.links.connectionFor(this.opts.engine(targets[0]));
  }

  /** `engine` will not answer `w` (any more): the gate may let held requests go. */
  private settled(w: PendingWork, engine: number): void {
    if (!w.waiting.delete(engine) || (w.path !== 'direct' && w.path !== 'controller')) return;
    for (const next of this.gate.answered(engine)) this.route(next);
  }

  /** `msgId` was answered and its result has other slots: getResult finds it until they are all done. */
  private keepWhilePending(msgId: string, w: PendingWork): void {
    const ids = this.pendingResults.get(w.sink) ?? [];
    if (ids.length === 0) {
      this.pendingResults.set(w.sink, ids);
      void w.sink.slotsDone(w.sink.slots.map((_, i) => i)).then(() => {
        this.pendingResults.delete(w.sink);
        for (const id of ids) this.answeredInPending.delete(id);
      });
    }
    ids.push(msgId);
    this.answeredInPending.set(msgId, w);
  }

  /** Stops waiting for `msgId` altogether (timed out, failed): held back, it is never sent. */
  private forget(msgId: string): void {
    const w = this.work.get(msgId);
    if (w === undefined) return;
    this.work.delete(msgId);
    if (w.path === 'held') {
      this.gate.unhold(w);
      w.frame = null;
      return;
    }
    for (const e of [...w.waiting]) this.settled(w, e);
  }

  /**
   * abort for `engineIds`: the named requests (all, without `msgIds`) that have not started
   * are dropped. Those still held back (PathGate) never left this client and are dropped here;
   * the engines drop the rest, which reject with AbortError as the answers come. The
   * abort_request names the msg_ids and the engines, so an engine can also drop a request
   * that reaches it (directly) after the abort.
   */
  abort(msgIds: string[] | undefined, engineIds: readonly number[]): Promise<void> {
    const named = msgIds === undefined ? null : new Set(msgIds);
    for (const [msgId, w] of [...this.work]) {
      if (w.path !== 'held' || (named !== null && !named.has(msgId)) || !w.targets.some((t) => engineIds.includes(t))) continue;
      this.forget(msgId);
      w.sink.failPending((id) => new AbortError(id, w.method));
    }
    return this.request('abort_request', msgIds === undefined ? {} : { msg_ids: msgIds }, undefined, { targets: [...engineIds] }).then(() => undefined);
  }

  /**
   * abort of load-balanced tasks: named by msg_id only (no targets), the controller drops those
   * its scheduler holds and passes the abort on to the engine of each one it sent (protocol section 14).
   */
  abortBalanced(msgIds: string[]): Promise<void> {
    return this.request('abort_request', { msg_ids: msgIds }).then(() => undefined);
  }

  /** interrupt of load-balanced tasks: by msg_id only; the controller sends it to the engines that run them. */
  interruptBalanced(msgIds: string[]): Promise<void> {
    return this.request('interrupt_request', { msg_ids: msgIds }).then(() => undefined);
  }

  /**
   * A call's `timeoutMs`: when it passes before the result is done, the requests still queued
   * are dropped and the ones running are interrupted (the engines stay up), and the result
   * rejects with TimeoutError.
   */
  expireAfter(tracker: ResultTracker<unknown>, method: string, timeoutMs: number): void {
    if (tracker.done) return;
    const timer = setTimeout(() => {
      if (tracker.done) return;
      const pending = tracker.slots.filter((s) => !s.done);
      const msgIds = [...new Set(pending.map((s) => s.msgId))].filter(Boolean);
      const engineIds = [...new Set(pending.map((s) => s.engineId))];
      for (const id of msgIds) this.forget(id);
      if (this.port.openError(method) === undefined && msgIds.length > 0) {
        const metadata = { targets: engineIds };
        this.request('abort_request', { msg_ids: msgIds }, undefined, metadata).catch(() => {});
        this.request('interrupt_request', { msg_ids: msgIds }, undefined, metadata).catch(() => {});
      }
      const who = engineIds.length === 1 ? `engine ${engineIds[0]}` : `engines ${engineIds.join(', ')}`;
      tracker.expire(new TimeoutError(`${method} did not finish within ${timeoutMs} ms on ${who}; it was interrupted (the engines stay up, with their namespaces)`, engineIds));
    }, timeoutMs);
    tracker.whenDone(() => clearTimeout(timer));
  }

  /** rc.getResult: a request of this client still running is answered here; anything else by the controller (result store, task database). */
  fetchResult(msgId: string): Promise<unknown[]> {
    // This client's own request, still running: its values as it ends here, unless an answer
    // never comes (a lost connection: the controller keeps what it could not deliver).
    const w = this.work.get(msgId) ?? this.answeredInPending.get(msgId);
    if (w !== undefined && w.path !== 'fetch') return answerOf(w).then((values) => values ?? this.askController(msgId));
    return this.askController(msgId);
  }

  private askController(msgId: string): Promise<unknown[]> {
    const asked = this.fetching.get(msgId);
    if (asked !== undefined) return asked;
    const closed = this.port.openError('result_request');
    if (closed) return Promise.reject(closed);
    const msg = createMessage('result_request', { msg_id: msgId }, { session: this.session });
    // The stored messages follow the reply at once: the result is set up as the reply is read.
    const reply = this.control.expect(msg.header.msg_id, 'result_request', (c) => this.expectStored(msgId, c));
    this.port.conn.send(msg);
    const values = reply.then((tracker) => tracker.promise);
    this.fetching.set(msgId, values);
    const forget = () => this.fetching.delete(msgId);
    values.then(forget, forget);
    return values;
  }

  private expectStored(msgId: string, c: OkReply<'result_request'>): ResultTracker<unknown[]> {
    const type = c.msg_type;
    if (!isWorkRequest(type)) throw new Error(`msg_type must be a work request type, got ${JSON.stringify(type)}`);
    const ids = c.engine_ids;
    const method = type.replace(/_request$/, '');
    const { tracker } = this.newResult<unknown[]>({ engineIds: ids, method, bare: false, finalize: (values) => values });
    if (ids.length > 0) this.work.set(msgId, pendingWork('fetch', msgId, undefined, ids, ids.map((_, i) => i), tracker, method, workReplyOf(type), replyDecoderFor(type, tracker), null));
    return tracker;
  }

  // ---- incoming

  /** A message the controller pushes (it answers no request): checked once, dropped with the reason when malformed. */
  private deliverPushed<T extends 'engine_event' | 'task_events'>(type: T, msg: Message, deliver: (content: ContentMap[T]) => void): void {
    let content: ContentMap[T];
    try {
      content = checkContent(type, msg.content);
    } catch (e) {
      this.opts.onDropped(`${type}: ${(e as Error).message}`);
      return;
    }
    deliver(content);
  }

  /**
   * Every message from the controller and the direct connections comes in here. Its content is
   * checked once (core/protocol/validate) where it is routed: a stream or an event here, a reply
   * as it is matched to its request (onWorkReply, ControlCalls). Nothing malformed throws.
   */
  onMessage(msg: Message): void {
    const parentId = parentIdOf(msg);
    const type = msg.header.msg_type;
    if (type === 'stream') {
      if (parentId !== undefined) this.onStream(msg, parentId);
      return;
    }
    if (type === 'engine_event') return this.deliverPushed(type, msg, (ev) => this.opts.onEngineEvent(ev));
    if (type === 'task_events') return this.deliverPushed(type, msg, (batch) => this.opts.onTaskEvents(batch));
    if (parentId === undefined) return;
    const w = this.work.get(parentId);
    if (w !== undefined) this.onWorkReply(w, parentId, msg);
    else this.control.settle(parentId, msg);
  }

  /** A large reply's head is in: its buffers may go where its request wants them (gather). */
  placeParts(msg: Message, rest: number[]): (Buffer | undefined)[] | null {
    const parentId = parentIdOf(msg);
    const w = parentId === undefined ? undefined : this.work.get(parentId);
    // Only a peek at the head: the whole reply is checked when it is routed (onWorkReply).
    const c = msg.content;
    if (w?.place === undefined || !('status' in c) || c.status !== 'ok') return null;
    const slot = this.slotFor(w, msg);
    return slot === undefined ? null : w.place(slot, rest);
  }

  private slotFor(w: PendingWork, msg: Message): number | undefined {
    const engineId = engineIdOf(msg.metadata);
    if (engineId !== undefined) return w.slotByEngine.get(engineId) ?? this.balancedSlot(w, engineId);
    return w.onlySlot;
  }

  /** A load-balanced request's slot, told which engine answers (reached only when the engine is not a target). */
  private balancedSlot(w: PendingWork, engineId: number): number | undefined {
    if (w.anySlot !== undefined) w.sink.ranOn(w.anySlot, engineId);
    return w.anySlot;
  }

  private onStream(msg: Message, parentId: string): void {
    const w = this.work.get(parentId);
    if (w === undefined) return;
    let stream: StreamName;
    let text: string;
    try {
      ({ name: stream, text } = checkContent('stream', msg.content));
    } catch (e) {
      this.opts.onDropped(`stream: ${(e as Error).message}`);
      return;
    }
    let index = this.slotFor(w, msg);
    if (index === undefined && engineIdOf(msg.metadata) === undefined) {
      // No engine id on the stream and several targets: attribute it by the sender's session.
      const engineId = this.sessionEngine.get(msg.header.session);
      if (engineId !== undefined) index = w.slotByEngine.get(engineId);
      if (index === undefined) {
        w.unattributed ??= new Map();
        const list = w.unattributed.get(msg.header.session);
        if (list) list.push({ name: stream, text });
        else w.unattributed.set(msg.header.session, [{ name: stream, text }]);
        return;
      }
    }
    if (index !== undefined) w.sink.output(index, stream, text);
  }

  private onWorkReply(w: PendingWork, msgId: string, msg: Message): void {
    const index = this.slotFor(w, msg);
    if (index === undefined || w.sink.slots[index].done) return;
    const md = msg.metadata;
    const engineId = engineIdOf(md) ?? -1;
    let content: ContentMap[typeof w.reply];
    try {
      content = checkWorkReply(w.reply, msg.header.msg_type, msg.content);
    } catch (e) {
      const who = engineId >= 0 ? `engine ${engineId}` : 'the controller';
      w.sink.fail(index, new RemoteError(engineId, w.method, 'ProtocolError', `malformed reply from ${who}: ${(e as Error).message}`));
      this.replied(w, msgId, engineId);
      return;
    }
    const fromEngine = !(content.status === 'error' && content.ename === 'EngineError');
    if (fromEngine && engineId >= 0) this.sessionEngine.set(msg.header.session, engineId);
    if (w.unattributed?.has(msg.header.session) && fromEngine) {
      for (const o of w.unattributed.get(msg.header.session)!) w.sink.output(index, o.name, o.text);
      w.unattributed.delete(msg.header.session);
    }
    const meta = {
      started: typeof md.started === 'string' ? md.started : undefined,
      completed: typeof md.completed === 'string' ? md.completed : undefined,
      received: typeof md.received === 'string' ? md.received : undefined,
    };
    if (content.status === 'ok') {
      let value: unknown;
      try {
        value = w.decode(content, msg.buffers, engineId, index);
      } catch (e) {
        w.sink.fail(index, new RemoteError(engineId, w.method, 'DecodeError', `cannot decode the reply: ${(e as Error).message}`), meta);
        this.replied(w, msgId, engineId);
        return;
      }
      w.sink.settle(index, value, meta);
    } else {
      w.sink.fail(index, workFailure(content, engineId, w.method), meta);
    }
    this.replied(w, msgId, engineId);
  }

  private replied(w: PendingWork, msgId: string, engineId: number): void {
    if (--w.remaining <= 0) {
      this.work.delete(msgId);
      if (w.path === 'direct') this.conversation.answered();
      // Only where the result has slots of other requests (a map's tasks): a broadcast's are all its own.
      if (w.path !== 'fetch' && w.sink.slots.length > (w.anySlot !== undefined ? 1 : w.targets.length)) this.keepWhilePending(msgId, w);
    }
    this.settled(w, engineId >= 0 || w.targets.length !== 1 ? engineId : w.targets[0]);
  }

  // ---- engines and connections going away

  /** An engine registered or changed: its uuid is the session its replies come from. */
  learnEngine(e: EngineInfo): void {
    if (e.uuid) this.sessionEngine.set(e.uuid, e.id);
  }

  /** The controller answers what it routed to a dead engine; what went directly is answered here. */
  engineGone(engineId: number, why: string): void {
    this.failDirect(engineId, () => why);
    this.links?.forget(engineId);
  }

  /** A direct connection closed: the direct requests waiting on it get no reply from there. */
  private onLinkClosed(engineId: number): void {
    this.failDirect(
      engineId,
      (msgId) => `engine ${engineId}: its direct connection closed before the reply (the engine stopped, or the connection broke). If the engine is still up, rc.getResult('${msgId}') fetches the result`,
    );
  }

  /** Fails what this client's direct requests wait for from `engineId` (the other engines of a request still answer). */
  private failDirect(engineId: number, evalueFor: (msgId: string) => string): void {
    for (const [msgId, w] of [...this.work]) {
      if (w.path !== 'direct' || !w.waiting.has(engineId)) continue;
      const slot = w.slotByEngine.get(engineId);
      if (slot !== undefined) w.sink.fail(slot, new EngineError(engineId, w.method, evalueFor(msgId)));
      this.replied(w, msgId, engineId);
    }
  }

  /**
   * Fails what waits for the controller with EngineError(`reasonFor(msgId)`) and control
   * requests with ConnectionError(`controlReason`); direct requests too unless `keepDirect`.
   */
  failInFlight(reasonFor: (msgId: string) => string, controlReason: string, keepDirect = false): void {
    const work = [...this.work].filter(([, w]) => !(keepDirect && w.path === 'direct'));
    for (const [msgId] of work) this.work.delete(msgId);
    // Nothing held may be sent while the rest is released from the gate.
    for (const [, w] of work) if (w.path === 'held') this.gate.unhold(w);
    for (const [, w] of work) if (w.path === 'direct' || w.path === 'controller') for (const e of w.waiting) this.gate.answered(e);
    for (const [msgId, w] of work) {
      const reason = reasonFor(msgId);
      w.sink.failPending((id) => new EngineError(id, w.method, reason));
    }
    this.control.failAll(controlReason);
  }

  /** Closed for good: the direct connections too. */
  close(): void {
    this.links?.close();
  }
}
