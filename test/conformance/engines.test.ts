/**
 * One conformance suite for every engine language (issue 12): each golden fixture in
 * test/conformance/fixtures/ runs against a real node engine and a real python engine, each
 * talking to a minimal controller over real sockets (test/unit/engines/fakeController.ts).
 * The expected messages are the same for every language; only the code a fixture sends may
 * differ. To prove a third engine, name it in MULTIENGINE_CONFORMANCE_ENGINE (see
 * fixtures/README.md); it runs every fixture too.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { isDeepStrictEqual } from 'node:util';
import { createMessage, type Header, type Json, type Message, type MsgType } from '../../core/protocol/messages.js';
import { Inbox, isReplyTo } from '../harness/peer.js';
import { FakeController, noPython, type DirectPeer } from '../unit/engines/fakeController.js';
import { bufferOf, loadFixtures, mismatches, resolve, type Expect, type Fixture, type JsonValue, type Step } from './golden.js';

interface Language {
  lang: string;
  /** argv of an engine from outside this repository (gets `--file <engine.json>`). */
  command?: string[];
  skip?: string | false;
}

const LANGUAGES: Language[] = [{ lang: 'node' }, { lang: 'python', skip: noPython }];
// "lang:command arg …": a third engine, e.g. MULTIENGINE_CONFORMANCE_ENGINE="ruby:ruby /path/to/engine.rb"
const extra = process.env.MULTIENGINE_CONFORMANCE_ENGINE;
if (extra) {
  const colon = extra.indexOf(':');
  if (colon <= 0) throw new Error(`MULTIENGINE_CONFORMANCE_ENGINE must be "lang:command args…", got ${JSON.stringify(extra)}`);
  LANGUAGES.push({ lang: extra.slice(0, colon), command: extra.slice(colon + 1).trim().split(/\s+/) });
}

const fixtures = loadFixtures();
/** What the registration_reply tells every engine: fixtures test both limits (protocol sections 3 and 7). */
const LIMITS = { max_message_bytes: 4 * 1024 * 1024, max_output_bytes: 100_000 };
const TIMEOUT_MS = 15_000;

/** One fixture on one engine. */
class Run {
  /** msg_ids of the fixture's named requests, drawn before the first step (an abort may name a later request). */
  private readonly ids = new Map<string, string>();
  private readonly sent = new Map<string, { msg: Message; inbox: Inbox }>();
  private readonly checked: { msg: Message; inbox: Inbox }[] = [];
  private direct: DirectPeer | null = null;

  constructor(
    private readonly fc: FakeController,
    private readonly lang: string,
    private readonly fixture: Fixture,
  ) {
    for (const step of fixture.steps) if ('send' in step && step.name) this.ids.set(step.name, randomUUID());
  }

  async run(): Promise<void> {
    for (const [i, step] of this.fixture.steps.entries()) {
      try {
        await this.step(step);
      } catch (e) {
        (e as Error).message = `${this.fixture.file}, step ${i + 1} (${JSON.stringify(step).slice(0, 120)}): ${(e as Error).message}`;
        throw e;
      }
    }
    // Exactly one reply per request.
    for (const { msg, inbox } of this.checked) assert.equal(inbox.count((m) => isReplyTo(m, msg)), 1, `replies to ${msg.header.msg_type} ${msg.header.msg_id}`);
  }

  private resolve(v: JsonValue): JsonValue {
    return resolve(v, this.lang, this.ids);
  }

  private async step(step: Step): Promise<void> {
    const { fc } = this;
    if ('send' in step) {
      const type = step.send as MsgType;
      const content = this.resolve(step.content) as never;
      const opts = {
        msgId: step.name ? this.ids.get(step.name) : randomUUID(),
        buffers: (step.buffers ?? []).map(bufferOf),
        metadata: step.metadata === undefined ? undefined : (this.resolve(step.metadata) as Record<string, Json>),
      };
      let msg: Message;
      let inbox: Inbox;
      if (step.via === 'direct') {
        this.direct ??= await fc.connectDirect();
        msg = this.direct.send(type, content, opts);
        inbox = this.direct;
      } else if (step.via === 'heart') {
        msg = createMessage(type, content, { session: fc.session, ...opts });
        fc.heartConn!.send(msg);
        inbox = fc.main;
      } else {
        msg = fc.send(type, content, opts);
        inbox = fc.main;
      }
      if (step.name) this.sent.set(step.name, { msg, inbox });
      if (step.expect) await this.expect(msg, inbox, step.expect);
    } else if ('replay' in step) {
      // The same message again, header and all, on the connection it came on: engines drop replays.
      const sent = this.sent.get(step.replay);
      if (!sent) throw new Error(`no request named ${step.replay} was sent`);
      (sent.inbox === fc.main ? fc.mainConn! : this.direct!.conn).send(sent.msg);
    } else if ('await' in step) {
      const sent = this.sent.get(step.await);
      if (!sent) throw new Error(`no request named ${step.await} was sent`);
      await this.expect(sent.msg, sent.inbox, step.expect);
    } else if ('wait_running' in step) {
      // Every heartbeat names the request that runs (protocol section 13).
      const id = this.ids.get(step.wait_running);
      await fc.heart.next((m) => m.header.msg_type === 'heartbeat' && (m.content as { running?: { msg_id?: string } }).running?.msg_id === id, TIMEOUT_MS, `a heartbeat saying ${step.wait_running} runs`);
    } else if ('received' in step) {
      const inbox = step.via === 'heart' ? fc.heart : fc.main;
      const got = (await inbox.next((m) => m.header.msg_type === step.received, TIMEOUT_MS, step.received)).msg;
      assertMatches(this.resolve(step.content), got.content, this.lang, this.ids, step.received);
    } else if ('exit' in step) {
      assert.equal(await fc.exitCode(TIMEOUT_MS), step.exit, 'exit code');
    } else {
      throw new Error(`unknown step ${JSON.stringify(step)}`);
    }
  }

  /** The reply to `req`, and its streams, as `expect` says; plus what every reply must be. */
  private async expect(req: Message, inbox: Inbox, expect: Expect): Promise<void> {
    const { fc } = this;
    const replyAt = await inbox.next((m) => isReplyTo(m, req), TIMEOUT_MS, `reply to ${req.header.msg_type}`);
    const reply = replyAt.msg;
    this.checked.push({ msg: req, inbox });
    assert.equal(reply.header.msg_type, req.header.msg_type.replace(/_request$/, '_reply'));
    assert.deepEqual(reply.parent_header as Header, req.header, 'parent_header is the request header');
    assertMatches({ engine_id: fc.engineId, received: '$date', started: '$date', completed: '$date', $more: true }, reply.metadata, this.lang, this.ids, 'reply metadata');
    assertMatches(expect.reply, reply.content, this.lang, this.ids, `${reply.header.msg_type} content`);
    const buffers = (expect.buffers ?? []).map(bufferOf);
    assert.ok(
      isDeepStrictEqual(reply.buffers.map((b) => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex')), buffers.map((b) => Buffer.from(b).toString('hex'))),
      `reply buffers: expected ${buffers.length} (${buffers.map((b) => Buffer.from(b).toString('hex')).join(', ')}), got ${reply.buffers.length}`,
    );
    const replyIndex = inbox.messages.indexOf(replyAt);
    const streams = inbox.streamsOf(req);
    for (const s of streams) {
      assert.ok(inbox.messages.indexOf(s) < replyIndex, 'all output comes before the reply');
      assertMatches({ name: '$string', text: '$string' }, s.msg.content, this.lang, this.ids, 'stream content');
      assertMatches({ engine_id: fc.engineId, $more: true }, s.msg.metadata, this.lang, this.ids, 'stream metadata');
    }
    const names = new Set([...Object.keys(expect.streams ?? {}), ...streams.map((s) => (s.msg.content as { name: string }).name)]);
    for (const name of names) {
      assertMatches(this.resolve(expect.streams?.[name] ?? ''), streamText(inbox, req, name), this.lang, this.ids, `${name} output`);
    }
  }
}

function streamText(inbox: Inbox, req: Message, name?: string): string {
  return inbox.streamsOf(req)
    .map((s) => s.msg.content as { name: string; text: string })
    .filter((c) => name === undefined || c.name === name)
    .map((c) => c.text)
    .join('');
}

function assertMatches(expected: JsonValue, actual: unknown, lang: string, ids: Map<string, string>, what: string): void {
  const diff = mismatches(expected, actual, lang, ids);
  assert.ok(diff.length === 0, `${what} differs:\n  ${diff.join('\n  ')}\nwhole: ${JSON.stringify(actual)}`);
}

for (const { lang, command, skip } of LANGUAGES) {
  const start = async (): Promise<FakeController> => {
    const fc = new FakeController(100, 0, lang, command);
    fc.limits = LIMITS;
    await fc.listen();
    await fc.startEngine();
    await fc.heart.next((m) => m.header.msg_type === 'heartbeat', TIMEOUT_MS, 'the first heartbeat'); // interrupts go there
    return fc;
  };

  describe(`conformance: the ${lang} engine`, { skip: skip ?? false }, () => {
    let shared: FakeController;
    before(async () => {
      shared = await start();
    });
    after(() => shared?.close());

    for (const fixture of fixtures) {
      it(`${fixture.file}: ${fixture.title}`, { timeout: 60_000 }, async () => {
        const fc = fixture.fresh ? await start() : shared;
        try {
          if (!fixture.fresh) assert.deepEqual((await fc.request('clear_request', {})).content, { status: 'ok' }, 'clear before the fixture');
          await new Run(fc, lang, fixture).run();
        } catch (e) {
          (e as Error).message += `\n[${lang} engine output]\n${fc.stderr.slice(-4000)}`;
          throw e;
        } finally {
          if (fixture.fresh) await fc.close();
        }
      });
    }
  });
}
