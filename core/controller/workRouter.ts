/**
 * Routes work to engines and their answers back: a work request goes, as its raw signed
 * parts, to each target; the engine's streams and replies go back, again raw, to the client
 * that asked (or into the result store once it left). Per message the work is a few Map
 * look-ups. Output is counted and truncated per request, and a client that cannot keep up
 * pauses the engines that feed it. Interrupt and abort are forwarded here too, and the
 * heartbeat and engine_activity bookkeeping of what an engine runs.
 *
 * Anything that sends work may use dispatch(): replies are matched through the engine's
 * `outstanding` map, whoever put the request there.
 */
import { type ContentMap, type Header, type Message, type MsgType } from '../protocol/messages.js';
import { checkContent, checkParent, checkReply, checkTargets, describe, engineIdOf, parentIdOf, WireError } from '../protocol/validate.js';
import type { Connection } from '../transport/connection.js';
import type { FrameSink } from '../transport/frame.js';
import type { ReplayGuard } from '../transport/replayGuard.js';
import type { ClientRecord } from './clientSession.js';
import { RECENTLY_ANSWERED, type EngineRecord, type Pending } from './engineRecord.js';
import type { EngineRegistry } from './engineRegistry.js';
import { log } from './log.js';
import { OK, type Replier, replyTypeFor } from './replies.js';
import { sizeOf, type ResultStore, type StoredResult } from './resultStore.js';
import type { Recorder } from './taskDb/recorder.js';

/** A client connection with more than this queued for writing pauses the engines that feed it (back-pressure). */
const CLIENT_HIGH_WATER_BYTES = 8 * 1024 * 1024;
/** Room over max_output_bytes for an engine's own truncation marker before the controller truncates. */
const OUTPUT_SLACK_CHARS = 64 * 1024;

/** Requests to more engines than this reach them without metadata.targets (WorkRouter.forEngines). */
const LIST_TARGETS_UP_TO = 8;

/** What the scheduler reads of a balanced task's reply (checked by checkReply). */
export interface AttemptOutcome {
  status: string;
  ename?: string;
  evalue?: string;
}

/** Where the replies of load-balanced tasks (Pending.balanced) go first: the scheduler. */
export interface BalancedReplies {
  /** True when this reply is the task's final outcome and goes on to the client; false when the task is retried. */
  settle(e: EngineRecord, p: Pending, reply: AttemptOutcome): boolean;
  /** Its engine died with it outstanding. */
  lost(e: EngineRecord, p: Pending, evalue: string): void;
  /** Sends waiting tasks to engines that have room. */
  pump(): void;
}

export interface WorkRouterDeps {
  readonly registry: Pick<EngineRegistry, 'get' | 'values' | 'refresh'>;
  readonly results: Pick<ResultStore, 'open' | 'add'>;
  readonly replier: Replier;
  readonly replays: ReplayGuard;
  readonly maxOutputBytes: number;
  readonly balanced: BalancedReplies;
  /** Task records: what went to which engine and what came back (a push per message). */
  readonly recorder: Pick<Recorder, 'sent' | 'output' | 'replied' | 'failed' | 'reported' | 'settled' | 'directWork'>;
  /** A message from an engine was dropped as malformed (counted in status_reply.dropped_messages). */
  dropped(why: string): void;
}

export class WorkRouter {
  /** Engine replies/streams that matched no outstanding request. */
  unroutable = 0;

  constructor(private readonly d: WorkRouterDeps) {}

  // ------------------------------------------------------------------ requests in

  /** A work request from a client: forwarded to each target, or answered with an error for those it cannot reach. */
  route(client: ClientRecord, msg: Message, parts: readonly Uint8Array[], replyType: MsgType): void {
    let targets: number[];
    try {
      targets = checkTargets(msg.metadata);
    } catch (e) {
      this.d.replier.error(client.conn, msg.header, replyType, (e as WireError).ename, (e as Error).message);
      return;
    }
    const msgId = msg.header.msg_id;
    const pending: Pending = { client, header: msg.header, replyType, targets };
    const out = targets.length > LIST_TARGETS_UP_TO ? this.forEngines(msg, parts) : parts;
    for (let i = 0; i < targets.length; i++) {
      const id = targets[i];
      const e = this.d.registry.get(id);
      if (e === undefined) {
        this.replyEngineError(pending, id, `no engine with id ${id}`);
      } else if (!e.alive) {
        this.replyEngineError(pending, id, `engine ${id} is dead: ${e.reason ?? 'unknown reason'}`);
      } else if (e.outstanding.has(msgId)) {
        this.d.replier.error(client.conn, msg.header, replyType, 'ProtocolError', `msg_id ${msgId} is already outstanding on engine ${id}`, { engine_id: id });
      } else {
        this.dispatch(e, msgId, out, pending);
      }
    }
  }

  /**
   * A request to many engines, as each engine gets it: without metadata.targets, which engines
   * do not read (the controller routes by it). Sent as it came, a call on all of n engines had
   * every engine sign-check, parse and be sent n ids: O(n²) bytes for one broadcast. Signed
   * again once; the same parts go to every target.
   */
  private forEngines(msg: Message, parts: readonly Uint8Array[]): readonly Uint8Array[] {
    const { targets: _, ...metadata } = msg.metadata;
    return this.d.replier.withMetadata(parts, metadata);
  }

  /** Sends a request to a live engine and expects its answers for `pending`. */
  dispatch(e: EngineRecord, msgId: string, parts: readonly Uint8Array[], pending: Pending): void {
    e.main.sendParts(parts);
    e.outstanding.set(msgId, pending);
    this.d.recorder.sent(e.id, msgId);
    if (e.outstanding.size === 1) {
      e.current = { msg_id: msgId, msg_type: pending.header.msg_type, started: new Date().toISOString() };
      this.d.registry.refresh(e);
    }
  }

  /** Checked targets and msg_ids of an interrupt or abort request, every target a listed engine; else an error reply. */
  private controlTargets(client: ClientRecord, msg: Message, type: 'interrupt_request' | 'abort_request'): { targets: number[]; msgIds?: string[] } | null {
    const replyType = replyTypeFor(type);
    let targets: number[], msgIds: string[] | undefined;
    try {
      targets = checkTargets(msg.metadata);
      msgIds = checkContent(type, msg.content).msg_ids;
    } catch (e) {
      this.d.replier.error(client.conn, msg.header, replyType, (e as WireError).ename, (e as Error).message);
      return null;
    }
    for (const id of targets) {
      if (this.d.registry.get(id)) continue;
      this.d.replier.error(client.conn, msg.header, replyType, 'EngineError', `no engine with id ${id}`);
      return null;
    }
    return { targets, msgIds };
  }

  /**
   * Interrupts go by the engines' hearts (their main thread may be busy running the request);
   * an engine whose heart has not connected yet (it connects after registering) gets it on its
   * main connection, which every engine also reads (protocol section 7).
   */
  interrupt(client: ClientRecord, msg: Message): void {
    const checked = this.controlTargets(client, msg, 'interrupt_request');
    if (!checked) return;
    this.interruptEngines(checked.targets, checked.msgIds, msg.header);
    this.d.replier.reply(client.conn, msg.header, 'interrupt_reply', OK);
  }

  /** Sends interrupt_request (naming `msgIds`, when given) to each live engine of `targets`, known ids. */
  interruptEngines(targets: Iterable<number>, msgIds: string[] | undefined, header: Header): void {
    let parts: Uint8Array[] | null = null;
    for (const id of targets) {
      const e = this.d.registry.get(id);
      if (e === undefined || !e.alive) continue;
      const via = e.heart && !e.heart.isClosed ? e.heart : !e.main.isClosed ? e.main : null;
      if (via) {
        parts ??= this.d.replier.encode('interrupt_request', msgIds ? { msg_ids: msgIds } : {}, header);
        via.sendParts(parts);
      } else if (e.local?.running && msgIds === undefined) {
        e.local.kill('SIGINT'); // no heart yet: what the heart would have done
      } else {
        log.warn(`cannot interrupt engine ${id}: it has no connection`);
      }
    }
  }

  /** Aborts go to the engines as they came; each dropped request is answered by its engine. */
  abort(client: ClientRecord, msg: Message, parts: Buffer[]): void {
    const checked = this.controlTargets(client, msg, 'abort_request');
    if (!checked) return;
    for (const id of checked.targets) {
      const e = this.d.registry.get(id)!;
      if (e.alive) e.main.sendParts(parts);
    }
    this.d.replier.reply(client.conn, msg.header, 'abort_reply', OK);
  }

  // ------------------------------------------------------------------ answers back

  /**
   * Cut-through for big replies (a pull of a large array): once an engine's reply has its
   * signature and JSON in, its buffers go on to the client as they arrive instead of being
   * assembled here first (no copy, no 128 MiB allocation, and both hops run at once). Only for
   * a reply the client can take now; anything else (stored results, a backed-up client, streams,
   * requests, a malformed reply) takes the usual path. If the engine breaks off in the middle,
   * the client's connection is closed: a frame cut short cannot be finished honestly.
   */
  streamReply(conn: Connection, msg: Message, head: Buffer[], rest: number[]): FrameSink | null {
    const id = engineIdOf(msg.metadata);
    const e = id === undefined ? undefined : this.d.registry.get(id);
    if (e === undefined || e.main !== conn || !e.alive) return null;
    const parentId = parentIdOf(msg);
    const p = parentId === undefined ? undefined : e.outstanding.get(parentId);
    // A balanced task's reply goes to the scheduler first (it may be a failed attempt to retry).
    if (p === undefined || p.stored !== undefined || p.balanced === true || msg.header.msg_type !== p.replyType) return null;
    const client = p.client.conn;
    if (client.isClosed || client.isStreaming || client.writableLength > CLIENT_HIGH_WATER_BYTES) return null;
    try {
      checkReply(msg.content);
    } catch {
      return null;
    }
    // Last check: from here on the message is this stream's (a replay is dropped by the usual path).
    if (!this.d.replays.admit(msg.header.msg_id)) return null;
    const sink = client.beginStream(head, rest, conn);
    this.d.recorder.replied(e.id, msg, sizeOf(head) + rest.reduce((a, b) => a + b, 0));
    this.answered(e, parentId!);
    return sink;
  }

  /** A stream message's text, or null when it is malformed (counted as dropped, named in the log). */
  private streamText(e: EngineRecord, msg: Message): string | null {
    try {
      return checkContent('stream', msg.content).text;
    } catch (err) {
      this.d.dropped(`engine ${e.id} sent a malformed stream: ${(err as Error).message}`);
      return null;
    }
  }

  /**
   * Output an engine sent once its request was answered (a timer, a thread): no client waits for
   * it, so it goes where the engine process's own output goes, the controller's log, as `[engine N]`.
   */
  private lateOutput(e: EngineRecord, msg: Message): void {
    const text = this.streamText(e, msg);
    if (text === null) return;
    const lines = text.split('\n');
    if (lines.at(-1) === '') lines.pop();
    log.relay(lines.map((l) => `[engine ${e.id}] ${l}\n`).join(''));
  }

  /** A message on an engine's main connection: its direct activity, or a stream or reply of a request. */
  onEngineMessage(e: EngineRecord, msg: Message, parts: Buffer[]): void {
    if (!e.alive) return;
    const type = msg.header.msg_type;
    if (type === 'engine_activity') {
      this.onActivity(e, msg);
      return;
    }
    if (type === 'task_report') {
      try {
        const { n } = checkContent('task_report', msg.content);
        if (msg.buffers.length !== 1) throw new Error(`it must carry its entries in one buffer, got ${msg.buffers.length}`);
        // The entries are read and checked where their records are made (directRecords.ts).
        this.d.recorder.reported(e.id, n, msg.buffers[0]);
      } catch (err) {
        this.d.dropped(`engine ${e.id} sent a malformed task_report: ${(err as Error).message}`);
      }
      return;
    }
    const parentId = parentIdOf(msg);
    const p = parentId === undefined ? undefined : e.outstanding.get(parentId);
    if (p === undefined) {
      if (parentId !== undefined && msg.metadata.orphan === true) this.storeOrphan(e, parentId, msg, parts);
      else if (type === 'stream') this.lateOutput(e, msg);
      else {
        this.unroutable++;
        log.warnLimited('unroutable', `engine ${e.id} sent ${describe(type)} answering no outstanding request (parent ${describe(parentId)}); dropped`);
      }
      return;
    }
    const isReply = type === p.replyType;
    if (isReply) {
      try {
        checkReply(msg.content);
      } catch (err) {
        // The client still gets an answer, one that says what was wrong.
        const evalue = `engine ${e.id} sent a malformed ${type}: ${(err as Error).message}`;
        this.d.recorder.failed(e.id, parentId!, evalue);
        const parts = this.d.replier.encodeError(p.replyType, p.header, 'EngineError', evalue, { engine_id: e.id });
        if (p.balanced === true) this.settleBalanced(e, parentId!, p, parts, { status: 'error', ename: 'EngineError' });
        else {
          this.forward(e, p, parts, true);
          this.answered(e, parentId!);
        }
        return;
      }
      this.d.recorder.replied(e.id, msg, parts);
      if (p.balanced === true) {
        this.settleBalanced(e, parentId!, p, parts, msg.content as AttemptOutcome);
        return;
      }
    } else if (type === 'stream') {
      const text = this.streamText(e, msg);
      if (text === null || !this.countOutput(e, parentId!, p, text)) return;
      this.d.recorder.output(e.id, msg, parts);
    }
    this.forward(e, p, parts, isReply);
    if (isReply) this.answered(e, parentId!);
  }

  /** To the client that asked, or into the result store once it left. */
  private forward(e: EngineRecord, p: Pending, parts: readonly Uint8Array[], isReply: boolean): void {
    if (p.stored !== undefined) {
      this.d.results.add(p.stored, parts, e.id, isReply);
      return;
    }
    const conn = p.client.conn;
    conn.sendParts(parts);
    if (conn.writableLength > CLIENT_HIGH_WATER_BYTES) this.throttle(e, conn);
  }

  /** A balanced task's reply: forwarded when the scheduler says it is final; then the engine's freed room is used. */
  private settleBalanced(e: EngineRecord, msgId: string, p: Pending, parts: readonly Uint8Array[], reply: AttemptOutcome): void {
    if (this.d.balanced.settle(e, p, reply)) {
      this.d.recorder.settled(msgId);
      this.forward(e, p, parts, true);
    }
    this.answered(e, msgId);
    this.d.balanced.pump();
  }

  /** The reply to `msgId` went out: count it; when it was the running request, the next queued one starts now. */
  private answered(e: EngineRecord, msgId: string): void {
    e.outstanding.delete(msgId);
    e.tasksDone++;
    if (e.recentlyAnswered.push(msgId) > RECENTLY_ANSWERED) e.recentlyAnswered.shift();
    if (e.current === null || e.current.msg_id === msgId) {
      // (An aborted request answered out of order leaves the running one as it is.)
      const next = e.outstanding.entries().next();
      e.current = next.done ? null : { msg_id: next.value[0], msg_type: next.value[1].header.msg_type, started: new Date().toISOString() };
    }
    if (e.outstanding.size === 0) this.d.registry.refresh(e);
  }

  /** engine_activity: the engine's direct work (section 13) counts in its state, queue and tasks. */
  private onActivity(e: EngineRecord, msg: Message): void {
    let a: ContentMap['engine_activity'];
    try {
      a = checkContent('engine_activity', msg.content);
    } catch (err) {
      this.d.dropped(`engine ${e.id} sent a malformed engine_activity: ${(err as Error).message}`);
      return;
    }
    e.directActivity = { direct_running: a.direct_running, direct_queued: a.direct_queued, direct_done: a.direct_done };
    e.runningFromBeat = false;
    if (a.direct_running !== null || a.direct_queued > 0) this.d.recorder.directWork();
    if (a.orphaned) {
      for (const h of a.orphaned) if (!e.orphans.has(h.msg_id)) e.orphans.set(h.msg_id, this.d.results.open(h.msg_id, h, e.id, [e.id]));
    }
    this.d.registry.refresh(e);
  }

  /**
   * A beat names the request the engine runs: one we did not route is direct work that may block
   * the engine's main thread (so no engine_activity came); count it as running until a report says otherwise.
   */
  noteRunning(e: EngineRecord, r: ContentMap['heartbeat']['running']): void {
    const d = e.directActivity;
    // No request, or a routed one (running, or just answered: a beat that crossed its reply): a
    // direct one that only a beat had named is over, since the engine runs one at a time (its
    // report may have come first).
    if (!r || e.outstanding.has(r.msg_id) || e.recentlyAnswered.includes(r.msg_id)) {
      if (e.runningFromBeat) {
        e.runningFromBeat = false;
        e.directActivity = { ...d, direct_running: null };
        this.d.registry.refresh(e);
      }
      return;
    }
    if (d.direct_running?.msg_id === r.msg_id) return;
    // It left the engine's queue to run: the last report, if it counted it there, is behind by one
    // (without this a beat between the start and its report counted it queued and running at once).
    const queued = Math.max(0, d.direct_queued - 1);
    e.directActivity = { ...d, direct_queued: queued, direct_running: { msg_id: r.msg_id, msg_type: r.msg_type, started: new Date().toISOString() } };
    e.runningFromBeat = true;
    this.d.registry.refresh(e);
  }

  /**
   * A stream or reply of a direct request whose client left (metadata.orphan): kept in the result
   * store like those of a client that left the controller, so result_request finds it.
   */
  private storeOrphan(e: EngineRecord, msgId: string, msg: Message, parts: Buffer[]): void {
    let parent: Header;
    try {
      parent = checkParent(msg);
    } catch (err) {
      this.d.dropped(`engine ${e.id} sent an orphaned ${describe(msg.header.msg_type)}: ${(err as Error).message}`);
      return;
    }
    const isReply = msg.header.msg_type === replyTypeFor(parent.msg_type);
    let r = e.orphans.get(msgId);
    if (r === undefined) e.orphans.set(msgId, (r = this.d.results.open(msgId, parent, e.id, [e.id])));
    this.d.results.add(r, parts, e.id, isReply);
    if (isReply) e.orphans.delete(msgId);
  }

  /**
   * Output accounting: false when this stream is to be dropped because the request's output
   * passed max_output_bytes (the first time, a marker saying so goes out instead).
   */
  private countOutput(e: EngineRecord, msgId: string, p: Pending, text: string): boolean {
    if (e.outMsgId !== msgId) {
      e.outMsgId = msgId;
      e.outChars = 0;
      e.outTruncated = false;
    }
    if (e.outTruncated) return false;
    e.outChars += text.length;
    const max = this.d.maxOutputBytes;
    if (e.outChars <= max + OUTPUT_SLACK_CHARS) return true;
    e.outTruncated = true;
    log.warnLimited('truncated', `engine ${e.id}: output of request ${msgId} passed ${max} characters; the rest is dropped`);
    const marker = { name: 'stderr' as const, text: `\n[output truncated by the controller: engine ${e.id} wrote more than ${max} characters for this request; the rest is dropped]\n` };
    const parts = this.d.replier.encode('stream', marker, p.header, { engine_id: e.id, truncated: true });
    if (p.stored !== undefined) this.d.results.add(p.stored, parts, e.id, false);
    else p.client.conn.sendParts(parts);
    return false;
  }

  /** Back-pressure: stop reading from the engine until the client's connection has drained. */
  private throttle(e: EngineRecord, conn: Connection): void {
    if (e.pausedFor.has(conn) || e.main.isClosed) return;
    e.pausedFor.add(conn);
    e.main.socket.pause();
    const resume = () => {
      conn.socket.off('drain', resume);
      conn.socket.off('close', resume);
      e.pausedFor.delete(conn);
      if (e.pausedFor.size === 0 && !e.main.isClosed) e.main.socket.resume();
    };
    conn.socket.on('drain', resume);
    conn.socket.once('close', resume);
  }

  // ------------------------------------------------------------------ engines and clients going away

  /** The engine is gone: everything outstanding on it (routed or orphaned) is answered with EngineError. */
  engineGone(e: EngineRecord, reason: string): void {
    const evalue = `engine ${e.id} is dead: ${reason}`;
    if (e.outstanding.size > 0) {
      const pending = [...e.outstanding.values()];
      e.outstanding.clear();
      for (const p of pending) {
        if (p.balanced === true) {
          this.d.recorder.failed(e.id, p.header.msg_id, evalue);
          this.d.balanced.lost(e, p, evalue);
        }
        else this.replyEngineError(p, e.id, evalue);
      }
    }
    for (const r of e.orphans.values()) this.storeEngineError(r, replyTypeFor(r.header.msg_type), r.header, e.id, evalue);
    e.orphans.clear();
    e.directActivity = { direct_running: null, direct_queued: 0, direct_done: e.directActivity.direct_done };
    e.pausedFor.clear();
  }

  /** A client left: its unanswered requests keep running, their answers go to the result store. Returns how many. */
  clientGone(client: ClientRecord): number {
    const kept = this.keepAnswers(client);
    for (const e of this.d.registry.values()) e.pausedFor.delete(client.conn);
    return kept;
  }

  /** The answers of `client`'s unanswered requests go to the result store from now on. Returns how many. */
  keepAnswers(client: ClientRecord): number {
    let kept = 0;
    for (const e of this.d.registry.values()) {
      if (!e.alive || e.outstanding.size === 0) continue;
      for (const [msgId, p] of e.outstanding) {
        if (p.client !== client) continue;
        if (p.stored === undefined || p.stored.evicted) p.stored = this.d.results.open(msgId, p.header, e.id, p.targets);
        else this.d.results.open(msgId, p.header, e.id, p.targets);
        kept++;
      }
    }
    return kept;
  }

  private replyEngineError(p: Pending, engineId: number, evalue: string): void {
    this.d.recorder.failed(engineId, p.header.msg_id, evalue);
    if (p.stored === undefined) this.d.replier.error(p.client.conn, p.header, p.replyType, 'EngineError', evalue, { engine_id: engineId });
    else this.storeEngineError(p.stored, p.replyType, p.header, engineId, evalue);
  }

  /** The EngineError reply `engineId` will never send, made here and kept in a stored result. */
  private storeEngineError(r: StoredResult, replyType: MsgType, parent: Header, engineId: number, evalue: string): void {
    this.d.results.add(r, this.d.replier.encodeError(replyType, parent, 'EngineError', evalue, { engine_id: engineId }), engineId, true);
  }
}
