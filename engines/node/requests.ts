/**
 * Work requests -> reply content: decoding arguments, running them against the namespace
 * and encoding results. Throws for failures; the engine turns the error into an error reply.
 * The content is checked here, once, as the request is taken by its type (core/protocol/validate):
 * a malformed one throws WireError, which names the field and carries the ename to reply with.
 */
import { inspect } from 'node:util';
import type { ContentMap, Json, Message } from '../../core/protocol/messages.js';
import { checkContent } from '../../core/protocol/validate.js';
import { decodeValue, encodeValue, type DecodeOptions, type Encoder } from '../../core/serialize/serialize.js';
import { DecodeError } from './errors.js';
import { isThenable } from './interrupt.js';
import type { Namespace } from './namespace.js';

export interface ReplyBody {
  content: { status: 'ok'; [key: string]: Json | undefined };
  buffers: Uint8Array[];
}

export class RequestHandler {
  /** Counts execute requests from 1; kept across clear. */
  executionCount = 0;

  constructor(private readonly ns: Namespace) {}

  /** The reply body; a Promise only when the request has to wait (top-level await, a promise result, imports). */
  handle(msg: Message): ReplyBody | Promise<ReplyBody> {
    const type = msg.header.msg_type;
    switch (type) {
      case 'execute_request':
        return this.execute(checkContent(type, msg.content));
      case 'apply_request':
        return this.apply(checkContent(type, msg.content), msg.buffers);
      case 'push_request':
        return this.push(checkContent(type, msg.content), msg.buffers);
      case 'pull_request':
        return this.pull(checkContent(type, msg.content));
      case 'keys_request':
        return ok({ keys: this.ns.keys() });
      case 'clear_request':
        this.ns.clear();
        return ok({});
      default:
        throw new TypeError(`unknown request type ${type}`);
    }
  }

  private execute(c: ContentMap['execute_request']): ReplyBody | Promise<ReplyBody> {
    // silent (as in Jupyter): not counted and no result shown.
    const count = c.silent === true ? this.executionCount : ++this.executionCount;
    const body = ({ value }: { value: unknown }): ReplyBody => {
      const content: ReplyBody['content'] = { status: 'ok', execution_count: count };
      if (value !== undefined && c.silent !== true) content.result = inspect(value);
      return { content, buffers: [] };
    };
    const done = this.ns.execute(c.code, `execute ${count}`);
    return done instanceof Promise ? done.then(body) : body(done);
  }

  private decoder(): DecodeOptions {
    return { makeFunction: (src, name) => this.ns.makeFunction(src, name) };
  }

  /** The value of `tree`; a SerializationError naming `what` when it cannot be decoded (protocol section 8). */
  private decode(tree: Json, buffers: readonly Uint8Array[], what: string): unknown {
    let value: unknown;
    try {
      value = decodeValue(tree, buffers, this.decoder());
    } catch (e) {
      throw new DecodeError(what, (e as Error)?.message ?? String(e));
    }
    return this.ns.adoptValue(value);
  }

  private apply(c: ContentMap['apply_request'], buffers: readonly Uint8Array[]): ReplyBody | Promise<ReplyBody> {
    if (c.require?.length) return this.ns.importModules(c.require).then(() => this.call(c, buffers));
    return this.call(c, buffers);
  }

  /** The call itself: synchronous unless the function returns a promise. */
  private call(c: ContentMap['apply_request'], buffers: readonly Uint8Array[]): ReplyBody | Promise<ReplyBody> {
    const args = c.args.map((a, i) => this.decode(a, buffers, `argument ${i}`));
    const result = c.fn === '' ? null : this.ns.apply(c.fn, args);
    return isThenable(result) ? Promise.resolve(result).then(resultBody) : resultBody(result);
  }

  private push(c: ContentMap['push_request'], buffers: readonly Uint8Array[]): ReplyBody {
    // Decode everything first so a bad entry binds nothing.
    const values = Object.keys(c.ns).map((name) => [name, this.decode(c.ns[name], buffers, name)] as const);
    for (const [name, value] of values) this.ns.set(name, value);
    return ok({});
  }

  private pull(c: ContentMap['pull_request']): ReplyBody {
    const enc: Encoder = { buffers: [] };
    const values = c.names.map((name) => encodeValue(this.ns.get(name), enc, name));
    return { content: { status: 'ok', values }, buffers: enc.buffers };
  }
}

function resultBody(result: unknown): ReplyBody {
  const enc: Encoder = { buffers: [] };
  return { content: { status: 'ok', result: encodeValue(result, enc, 'result') }, buffers: enc.buffers };
}

function ok(fields: { [key: string]: Json }): ReplyBody {
  return { content: { status: 'ok', ...fields }, buffers: [] };
}
