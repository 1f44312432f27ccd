/**
 * Engine probes (docs/protocol.md, "Engine probes"): a client's stack_request or profile_request
 * goes to the engine's heart, not its work queue, because the main thread may be busy with the
 * request being asked about; the heart's reply comes back here and goes on to the client. An
 * engine that does not answer in time, or dies first, gets the client an error naming it.
 */
import type { ContentMap, Header, Message } from '../protocol/messages.js';
import type { ProbeRequestType } from '../protocol/probe.js';
import { checkContent, checkParent, WireError } from '../protocol/validate.js';
import type { ClientRecord } from './clientSession.js';
import type { EngineRecord } from './engineRecord.js';
import type { EngineRegistry } from './engineRegistry.js';
import type { Replier } from './replies.js';

/** Time an engine has to answer, beyond the seconds a profile takes. */
export const PROBE_TIMEOUT_MS = 5000;

type ReplyType = 'stack_reply' | 'profile_reply';
const REPLY: Record<ProbeRequestType, ReplyType> = { stack_request: 'stack_reply', profile_request: 'profile_reply' };
const WHAT: Record<ProbeRequestType, string> = { stack_request: 'stack', profile_request: 'profile' };

interface Asked {
  client: ClientRecord;
  /** The client's request: what the reply answers. */
  header: Header;
  type: ProbeRequestType;
  engine: EngineRecord;
  timer: NodeJS.Timeout;
}

export interface EngineProbesDeps {
  readonly registry: Pick<EngineRegistry, 'get'>;
  readonly replier: Replier;
  readonly timeoutMs?: number;
  dropped(why: string): void;
}

export class EngineProbes {
  /** By the msg_id of the request sent to the engine. */
  private readonly asked = new Map<string, Asked>();

  constructor(private readonly d: EngineProbesDeps) {}

  /** A client's stack_request or profile_request: checked, then sent to the engine's heart. */
  request(client: ClientRecord, msg: Message, type: ProbeRequestType): void {
    const fail = (ename: string, why: string) => this.d.replier.error(client.conn, msg.header, REPLY[type], ename, why);
    let c: ContentMap[ProbeRequestType];
    try {
      c = checkContent(type, msg.content);
    } catch (e) {
      return fail((e as WireError).ename ?? 'ProtocolError', (e as Error).message);
    }
    const e = this.d.registry.get(c.engine_id);
    if (!e || !e.alive) return fail('EngineError', e ? `engine ${c.engine_id} is dead (${e.reason ?? 'gone'})` : `no engine with id ${c.engine_id}`);
    const heart = e.heart;
    if (!heart || heart.isClosed) return fail('EngineError', `engine ${e.id} has no heart connection yet (it is starting or reconnecting); ask again in a moment`);
    const out = this.d.replier.message(type, c);
    const seconds = type === 'profile_request' ? (c as ContentMap['profile_request']).seconds : 0;
    const limit = Math.round(seconds * 1000) + (this.d.timeoutMs ?? PROBE_TIMEOUT_MS);
    const timer = setTimeout(() => {
      if (this.asked.delete(out.header.msg_id)) fail('TimeoutError', `engine ${e.id} did not answer the ${WHAT[type]} request within ${limit} ms`);
    }, limit);
    this.asked.set(out.header.msg_id, { client, header: msg.header, type, engine: e, timer });
    heart.send(out);
  }

  /** A stack_reply or profile_reply on an engine's heart: checked, and passed to the client that asked. */
  onReply(e: EngineRecord, msg: Message): void {
    let a: Asked | undefined;
    try {
      a = this.asked.get(checkParent(msg).msg_id);
    } catch (err) {
      return this.d.dropped(`engine ${e.id}'s heart sent a ${msg.header.msg_type} answering nothing: ${(err as Error).message}`);
    }
    if (!a || a.engine !== e || REPLY[a.type] !== msg.header.msg_type) return this.d.dropped(`engine ${e.id}'s heart sent a ${msg.header.msg_type} nobody waits for (late, or not asked)`);
    this.settle(checkParent(msg).msg_id, a);
    let content: ContentMap[ReplyType];
    try {
      content = checkContent(msg.header.msg_type as ReplyType, msg.content);
    } catch (err) {
      return this.d.replier.error(a.client.conn, a.header, REPLY[a.type], 'ProtocolError', `engine ${e.id} sent a malformed ${msg.header.msg_type}: ${(err as Error).message}`);
    }
    if (!a.client.conn.isClosed) this.d.replier.reply(a.client.conn, a.header, REPLY[a.type], content, { engine_id: e.id });
  }

  /** The engine died: its unanswered probes fail now, naming it. */
  engineGone(e: EngineRecord, reason: string): void {
    for (const [id, a] of this.asked) {
      if (a.engine !== e) continue;
      this.settle(id, a);
      this.d.replier.error(a.client.conn, a.header, REPLY[a.type], 'EngineError', `engine ${e.id} died before answering the ${WHAT[a.type]} request: ${reason}`);
    }
  }

  /** The client left: nobody to answer. */
  clientGone(client: ClientRecord): void {
    for (const [id, a] of this.asked) if (a.client === client) this.settle(id, a);
  }

  private settle(id: string, a: Asked): void {
    clearTimeout(a.timer);
    this.asked.delete(id);
  }
}

export function isProbeReply(type: string): boolean {
  return type === 'stack_reply' || type === 'profile_reply';
}
