/**
 * A scripted controller: an in-process stand-in for the controller and its engines, speaking the real wire
 * protocol (signed frames over TCP), so client tests exercise the real Connection, codec
 * and serialization. Each fake engine keeps a vm namespace and runs requests synchronously
 * (apply results that are promises are awaited), which is enough to check routing,
 * partitioning and error handling from the client's side.
 */
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import util from 'node:util';
import vm from 'node:vm';
import { after, before } from 'node:test';
import { Client } from '../../../core/client/index.js';
import { writeConnectionFile } from '../../../core/connection/connectionFile.js';
import { createMessage, errorContent, isWorkRequest, type EngineInfo, type Json, type KernelKind, type Message, type MsgType } from '../../../core/protocol/messages.js';
import { Signer } from '../../../core/transport/codec.js';
import { Connection } from '../../../core/transport/connection.js';
import { decodeValue, encodeValue, functionExpression } from '../../../core/serialize/serialize.js';

/** Reply content as the fake engines build it. */
type Reply = object;

export interface ScriptedEngine {
  info: EngineInfo;
  context: vm.Context;
  executionCount: number;
  /** Stream messages carry metadata.engine_id (the contract's recommendation); false tests the fallback. */
  streamEngineId: boolean;
  /** A custom handler replacing the vm for this engine: return the reply content (and buffers). */
  /** `metadata`: fields put in the reply's metadata over the usual ones (engine_id, started, completed). */
  handler?: (msg: Message) => { content: Reply; buffers?: Uint8Array[]; delayMs?: number; streams?: { name: 'stdout' | 'stderr'; text: string }[]; metadata?: Record<string, Json> };
}

export interface ScriptedController {
  file: string;
  key: string;
  dir: string;
  engines: Map<number, ScriptedEngine>;
  /** Every message the controller received from clients, in order. */
  received: Message[];
  clients: Connection[];
  /** Answers a request the controller itself answers (connect, status, abort, ...): the reply content, or undefined for the usual one. */
  controlHandler?: (msg: Message) => object | undefined;
  /** Publish an engine_event to every client. */
  publish(event: 'registered' | 'state' | 'unregistered', info: EngineInfo): void;
  addEngine(kernel?: KernelKind): ScriptedEngine;
  /** Marks an engine dead: outstanding requests get EngineError replies, as the real controller does. */
  kill(id: number, reason?: string): void;
  /** Load-balanced requests (metadata.balanced): the engine the fake's scheduler gave each, in order of arrival. */
  balancedLog: { msgId: string; engine: number; balanced: Record<string, Json> }[];
  /** Load-balanced requests sent to engines and not answered, now and at most so far. */
  balancedInFlight: number;
  maxBalancedInFlight: number;
  /** Drops every client connection. */
  dropClients(): void;
  close(): Promise<void>;
}

function engineInfo(id: number, kernel: KernelKind): EngineInfo {
  return { id, uuid: `uuid-${id}`, kernel, language_version: '20', host: 'localhost', pid: 10_000 + id, state: 'idle', queue: 0, restarts: 0, registered: new Date().toISOString() };
}

export async function startScriptedController(opts: { n?: number; key?: string; kernels?: KernelKind[] } = {}): Promise<ScriptedController> {
  const key = opts.key ?? 'test-key';
  const signer = new Signer(key);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'me-client-test-'));
  const session = 'controller-session';
  const engines = new Map<number, ScriptedEngine>();
  const received: Message[] = [];
  const clients: Connection[] = [];
  /** msg_id -> engines still to answer, so kill() can answer for a dead engine. */
  const outstanding = new Map<string, { conn: Connection; msg: Message; engines: Set<number> }>();
  let nextId = 0;

  const addEngine = (kernel: KernelKind = 'node'): ScriptedEngine => {
    const id = nextId++;
    const context = vm.createContext({});
    const e: ScriptedEngine = { info: engineInfo(id, kernel), context, executionCount: 0, streamEngineId: true };
    engines.set(id, e);
    return e;
  };
  for (let i = 0; i < (opts.n ?? 4); i++) addEngine(opts.kernels?.[i] ?? 'node');

  const send = (conn: Connection, type: MsgType, content: unknown, parent: Message | undefined, metadata: Record<string, Json> = {}, buffers: Uint8Array[] = [], sessionId = session) => {
    conn.send(createMessage(type, content as never, { session: sessionId, parent: parent?.header, metadata, buffers }));
  };

  /** msg_ids of balanced requests on an engine, and how many each engine has. */
  const balancedOn = new Map<string, number>();
  const finish = (conn: Connection, msg: Message, id: number) => {
    const o = outstanding.get(msg.header.msg_id);
    if (!o || !o.engines.delete(id)) return false;
    if (o.engines.size === 0) outstanding.delete(msg.header.msg_id);
    if (balancedOn.delete(msg.header.msg_id)) fake.balancedInFlight--;
    return true;
  };

  /**
   * A minimal scheduler for client tests: the live engine of the pool with the fewest balanced
   * requests (lowest id on ties). With no live engine in the pool, a task with timeout_ms fails
   * with TaskTimeout (engine_id -1) after it; one without waits forever.
   */
  const schedule = (conn: Connection, msg: Message, balanced: Record<string, Json>) => {
    const pool = Array.isArray(balanced.pool) ? (balanced.pool as number[]) : [...engines.keys()];
    const live = pool.filter((id) => engines.get(id)?.info.state !== 'dead' && engines.has(id));
    const replyType = msg.header.msg_type.replace(/_request$/, '_reply') as MsgType;
    if (live.length === 0) {
      if (typeof balanced.timeout_ms === 'number') {
        setTimeout(() => send(conn, replyType, errorContent('TaskTimeout', `task not started within ${balanced.timeout_ms} ms`), msg, { engine_id: -1 }), balanced.timeout_ms).unref();
      }
      return;
    }
    const load = (id: number) => [...balancedOn.values()].filter((e) => e === id).length;
    const id = live.reduce((best, e) => (load(e) < load(best) ? e : best));
    fake.balancedLog.push({ msgId: msg.header.msg_id, engine: id, balanced });
    balancedOn.set(msg.header.msg_id, id);
    fake.maxBalancedInFlight = Math.max(fake.maxBalancedInFlight, ++fake.balancedInFlight);
    outstanding.set(msg.header.msg_id, { conn, msg, engines: new Set([id]) });
    void runOnEngine(conn, msg, engines.get(id)!);
  };

  const runOnEngine = async (conn: Connection, msg: Message, e: ScriptedEngine) => {
    const id = e.info.id;
    const replyType = msg.header.msg_type.replace(/_request$/, '_reply') as MsgType;
    const engineSession = `engine-session-${id}`;
    const stream = (name: 'stdout' | 'stderr', text: string) =>
      send(conn, 'stream', { name, text }, msg, e.streamEngineId ? { engine_id: id } : {}, [], engineSession);
    let content: Reply;
    let buffers: Uint8Array[] = [];
    let metadata: Record<string, Json> = {};
    if (e.handler) {
      const r = e.handler(msg);
      if (r.delayMs) await new Promise((res) => setTimeout(res, r.delayMs).unref());
      for (const s of r.streams ?? []) stream(s.name, s.text);
      content = r.content;
      buffers = r.buffers ?? [];
      metadata = r.metadata ?? {};
    } else {
      try {
        ({ content, buffers } = await serve(e, msg, stream));
      } catch (err) {
        const x = err as Error;
        content = errorContent(x?.name ?? 'Error', x?.message ?? String(err), String(x?.stack ?? '').split('\n'));
      }
    }
    if (!finish(conn, msg, id)) return; // answered already (killed)
    const now = new Date().toISOString();
    send(conn, replyType, content, msg, { engine_id: id, started: now, completed: now, ...metadata }, buffers, engineSession);
  };

  const server = net.createServer((socket) => {
    const conn = new Connection(socket, signer);
    clients.push(conn);
    conn.start({
      onMessage: (msg) => {
        received.push(msg);
        const t = msg.header.msg_type;
        const custom = t.endsWith('_request') && !isWorkRequest(t) ? fake.controlHandler?.(msg) : undefined;
        if (custom !== undefined) {
          send(conn, t.replace(/_request$/, '_reply') as MsgType, custom, msg);
        } else if (t === 'connect_request') {
          send(conn, 'connect_reply', { status: 'ok', engines: [...engines.values()].map((e) => e.info), controller_pid: process.pid, heartbeat_ms: 100 }, msg);
        } else if (t === 'status_request') {
          send(conn, 'status_reply', { status: 'ok', engines: [...engines.values()].map((e) => e.info), dropped_messages: 0, clients: clients.length }, msg);
        } else if (t === 'interrupt_request' || t === 'abort_request') {
          send(conn, t.replace('_request', '_reply') as MsgType, { status: 'ok' }, msg);
          if (t === 'abort_request') {
            // Answer every outstanding request on the targets as aborted (the fake engines have no queue).
            const ids = new Set(msg.metadata.targets ?? []);
            const only = (msg.content as { msg_ids?: string[] }).msg_ids;
            for (const [mid, o] of outstanding) {
              if (only && !only.includes(mid)) continue;
              for (const id of [...o.engines]) {
                if (!ids.has(id)) continue;
                o.engines.delete(id);
                if (balancedOn.delete(mid)) fake.balancedInFlight--;
                send(o.conn, o.msg.header.msg_type.replace(/_request$/, '_reply') as MsgType, { status: 'aborted' }, o.msg, { engine_id: id });
              }
              if (o.engines.size === 0) outstanding.delete(mid);
            }
          }
        } else if (t.endsWith('_request') && msg.metadata.balanced !== undefined) {
          schedule(conn, msg, msg.metadata.balanced as Record<string, Json>);
        } else if (t.endsWith('_request')) {
          const targets = msg.metadata.targets ?? [];
          outstanding.set(msg.header.msg_id, { conn, msg, engines: new Set(targets) });
          for (const id of targets) {
            const e = engines.get(id);
            if (!e || e.info.state === 'dead') {
              finish(conn, msg, id);
              const why = e ? `engine ${id} is dead: ${e.info.reason ?? 'killed'}` : `no engine with id ${id}`;
              send(conn, t.replace(/_request$/, '_reply') as MsgType, errorContent('EngineError', why), msg, { engine_id: id });
              continue;
            }
            void runOnEngine(conn, msg, e);
          }
        }
      },
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  const file = path.join(dir, 'security', 'multiengine-client.json');
  writeConnectionFile(file, { transport: 'tcp', ip: '127.0.0.1', port, key, signature_scheme: 'hmac-sha256', controller_pid: process.pid, profile: 'test', heartbeat_ms: 100 });

  const fake: ScriptedController = {
    file,
    key,
    dir,
    engines,
    received,
    clients,
    publish(event, info) {
      for (const c of clients) send(c, 'engine_event', { event, engine: info }, undefined);
    },
    addEngine,
    balancedLog: [],
    balancedInFlight: 0,
    maxBalancedInFlight: 0,
    kill(id, reason = 'killed by test') {
      const e = engines.get(id)!;
      e.info = { ...e.info, state: 'dead', reason };
      for (const [mid, o] of outstanding) {
        if (!o.engines.delete(id)) continue;
        if (balancedOn.delete(mid)) fake.balancedInFlight--;
        send(o.conn, o.msg.header.msg_type.replace(/_request$/, '_reply') as MsgType, errorContent('EngineError', `engine ${id} is dead: ${reason}`), o.msg, { engine_id: id });
        if (o.engines.size === 0) outstanding.delete(mid);
      }
      fake.publish('state', e.info);
    },
    dropClients() {
      for (const c of clients) c.destroy();
    },
    async close() {
      for (const c of clients) c.destroy();
      await new Promise<void>((r) => server.close(() => r()));
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
  return fake;
}

/** A small synchronous node engine over a vm context. */
async function serve(e: ScriptedEngine, msg: Message, stream: (name: 'stdout' | 'stderr', text: string) => void): Promise<{ content: Reply; buffers: Uint8Array[] }> {
  const ctx = e.context;
  const makeFunction = (src: string, name: string) => vm.runInContext(functionExpression(src, name), ctx);
  ctx.console = {
    log: (...a: unknown[]) => stream('stdout', util.format(...a) + '\n'),
    error: (...a: unknown[]) => stream('stderr', util.format(...a) + '\n'),
  };
  const c = msg.content as Record<string, unknown>;
  switch (msg.header.msg_type) {
    case 'execute_request': {
      e.executionCount++;
      const value = vm.runInContext(String(c.code), ctx);
      const out: Record<string, unknown> = { status: 'ok', execution_count: e.executionCount };
      if (value !== undefined) out.result = util.inspect(value);
      return { content: out, buffers: [] };
    }
    case 'apply_request': {
      for (const m of (c.require as string[] | undefined) ?? []) {
        if (m.startsWith('missing')) return { content: errorContent('UnmetDependencyError', `cannot import ${m}`), buffers: [] };
        ctx[m.replace(/^node:/, '')] = await import(m);
      }
      if (c.fn === '') return { content: { status: 'ok', result: null }, buffers: [] };
      const fn = makeFunction(String(c.fn), '') as (...a: unknown[]) => unknown;
      const args = (c.args as Json[]).map((a) => decodeValue(a, msg.buffers, { makeFunction }));
      const result = await fn(...args);
      const enc = { buffers: [] as Uint8Array[] };
      return { content: { status: 'ok', result: encodeValue(result, enc, 'result') }, buffers: enc.buffers };
    }
    case 'push_request': {
      const ns = c.ns as Record<string, Json>;
      for (const k of Object.keys(ns)) ctx[k] = decodeValue(ns[k], msg.buffers, { makeFunction });
      return { content: { status: 'ok' }, buffers: [] };
    }
    case 'pull_request': {
      const enc = { buffers: [] as Uint8Array[] };
      const values: Json[] = [];
      for (const name of c.names as string[]) {
        if (!(name in ctx)) return { content: errorContent('NameError', `name '${name}' is not defined`), buffers: [] };
        values.push(encodeValue(ctx[name], enc, name));
      }
      return { content: { status: 'ok', values }, buffers: enc.buffers };
    }
    case 'keys_request':
      return { content: { status: 'ok', keys: Object.keys(ctx).filter((k) => k !== 'console').sort() }, buffers: [] };
    case 'clear_request':
      e.context = vm.createContext({});
      return { content: { status: 'ok' }, buffers: [] };
    default:
      return { content: errorContent('ProtocolError', `unknown request ${msg.header.msg_type}`), buffers: [] };
  }
}

/** For the suite (or file) it is called in: a scripted controller with `n` engines and a client connected to it, started before and closed after. */
export function scriptedSession(n: number): { readonly fc: ScriptedController; readonly rc: Client } {
  const s = {} as { fc: ScriptedController; rc: Client };
  before(async () => {
    s.fc = await startScriptedController({ n });
    s.rc = await Client.connect(s.fc.file);
  });
  after(async () => {
    s.rc?.close();
    await s.fc?.close();
  });
  return s;
}
