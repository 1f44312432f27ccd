/**
 * Work requests -> reply content: decoding arguments, running them against the namespace
 * and encoding results. Throws for failures; the engine turns the error into an error reply.
 */
import { inspect } from 'node:util';
import type { ContentMap, Json, Message, WorkRequestType } from '../../core/protocol/messages.js';
import { decodeValue, encodeValue, type DecodeOptions, type Encoder } from '../../core/serialize/serialize.js';
import { DecodeError } from './errors.js';
import { isThenable } from './interrupt.js';
import type { Namespace } from './namespace.js';

export interface ReplyBody {
  content: { status: 'ok'; [key: string]: Json | undefined };
  buffers: Uint8Array[];
}

function expect(cond: boolean, what: string): asserts cond {
  if (!cond) throw new TypeError(`bad request: ${what}`);
}

export class RequestHandler {
  /** Counts execute requests from 1; kept across clear. */
  executionCount = 0;

  constructor(private readonly ns: Namespace) {}

  /** The reply body; a Promise only when the request has to wait (top-level await, a promise result, imports). */
  handle(msg: Message): ReplyBody | Promise<ReplyBody> {
    const type = msg.header.msg_type as WorkRequestType;
    switch (type) {
      case 'execute_request':
        return this.execute(msg.content as ContentMap['execute_request']);
      case 'apply_request':
        return this.apply(msg.content as ContentMap['apply_request'], msg.buffers);
      case 'push_request':
        return this.push(msg.content as ContentMap['push_request'], msg.buffers);
      case 'pull_request':
        return this.pull(msg.content as ContentMap['pull_request']);
      case 'keys_request':
        return ok({ keys: this.ns.keys() });
      case 'clear_request':
        this.ns.clear();
        return ok({});
      default:
        throw new TypeError(`unknown request type ${String(type)}`);
    }
  }

  private execute(c: ContentMap['execute_request']): ReplyBody | Promise<ReplyBody> {
    expect(typeof c.code === 'string', 'execute_request.code must be a string');
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
    expect(typeof c.fn === 'string', 'apply_request.fn must be a string');
    expect(c.args === undefined || Array.isArray(c.args), 'apply_request.args must be an array');
    expect(c.require === undefined || (Array.isArray(c.require) && c.require.every((r) => typeof r === 'string')), 'apply_request.require must be an array of strings');
    if (c.require?.length) return this.ns.importModules(c.require).then(() => this.call(c, buffers));
    return this.call(c, buffers);
  }

  /** The call itself: synchronous unless the function returns a promise. */
  private call(c: ContentMap['apply_request'], buffers: readonly Uint8Array[]): ReplyBody | Promise<ReplyBody> {
    const args = (c.args ?? []).map((a, i) => this.decode(a, buffers, `argument ${i}`));
    const result = c.fn === '' ? null : this.ns.apply(c.fn, args);
    return isThenable(result) ? Promise.resolve(result).then(resultBody) : resultBody(result);
  }

  private push(c: ContentMap['push_request'], buffers: readonly Uint8Array[]): ReplyBody {
    expect(typeof c.ns === 'object' && c.ns !== null && !Array.isArray(c.ns), 'push_request.ns must be an object');
    // Decode everything first so a bad entry binds nothing.
    const values = Object.keys(c.ns).map((name) => [name, this.decode(c.ns[name], buffers, name)] as const);
    for (const [name, value] of values) this.ns.set(name, value);
    return ok({});
  }

  private pull(c: ContentMap['pull_request']): ReplyBody {
    expect(Array.isArray(c.names) && c.names.every((n) => typeof n === 'string'), 'pull_request.names must be an array of strings');
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
