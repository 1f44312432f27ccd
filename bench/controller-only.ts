/**
 * The controller alone between a fake client and a fake engine (both in this process), for
 * profiling it: requests go one at a time and the controller's CPU per request is printed.
 *   node --import tsx bench/controller-only.ts [--reps N] [--engines N] [--burst N]
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { parseArgs } from 'node:util';
import { readConnectionFile } from '../core/connection/connectionFile.ts';
import { nodeEntry } from '../core/util/entry.ts';
import { createMessage, newSession, type Message } from '../core/protocol/messages.ts';
import { Signer } from '../core/transport/codec.ts';
import { Connection, connectTcp } from '../core/transport/connection.ts';
import { cpuSeconds } from '../core/util/processes.ts';

const { values } = parseArgs({ options: { reps: { type: 'string', default: '5000' }, engines: { type: 'string', default: '1' }, burst: { type: 'string', default: '1' } } });
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'me-ctl-only-'));
const { command, args } = nodeEntry('core/controller/main');
const ctl = spawn(command, [...args, '--dir', dir, '--profile', 'x', '--exit-with-parent', '--heartbeat-ms', '1000'], { stdio: ['pipe', 'pipe', 'inherit'] });
const lines = readline.createInterface({ input: ctl.stdout! })[Symbol.asyncIterator]();
let first = '';
while (!first.startsWith('{"event":"ready"')) first = (await lines.next()).value as string;
const ready = JSON.parse(first) as { port: number; client_file: string; engine_file: string };
// Anything else the controller prints (e.g. V8 traces while profiling) goes to stderr.
void (async () => {
  for (;;) {
    const r = await lines.next();
    if (r.done) return;
    process.stderr.write(`${r.value as string}\n`);
  }
})();
const info = readConnectionFile(ready.engine_file, { allowInsecure: true });
const signer = new Signer(info.key);

// Fake engines: register, beat, and answer every work request at once with a fixed reply.
const nEngines = Number(values.engines);
for (let i = 0; i < nEngines; i++) {
  const session = newSession();
  const uuid = newSession();
  const conn = new Connection(await connectTcp(info.ip, info.port), signer);
  const registered = new Promise<number>((resolve) =>
    conn.start({
      onMessage(msg) {
        const t = msg.header.msg_type;
        if (t === 'registration_reply') resolve((msg.content as { id: number }).id);
        else if (t.endsWith('_request') && t !== 'shutdown_request') {
          conn.send(createMessage(t.replace(/_request$/, '_reply') as 'apply_reply', { status: 'ok', result: null }, { session, parent: msg.header, metadata: { engine_id: i } }));
        }
      },
    }),
  );
  conn.send(createMessage('registration_request', { uuid, kernel: 'node', language_version: '0', host: 'fake', pid: process.pid }, { session }));
  const id = await registered;
  const heart = new Connection(await connectTcp(info.ip, info.port), signer);
  heart.start({ onMessage() {} });
  const beat = () => heart.send(createMessage('heartbeat', { uuid, id }, { session }));
  beat();
  setInterval(beat, 1000).unref();
}

// The fake client.
const session = newSession();
const client = new Connection(await connectTcp(info.ip, info.port), signer);
let onReply: ((m: Message) => void) | null = null;
const connected = new Promise<void>((resolve) =>
  client.start({
    onMessage(msg) {
      if (msg.header.msg_type === 'connect_reply') resolve();
      else onReply?.(msg);
    },
  }),
);
client.send(createMessage('connect_request', {}, { session }));
await connected;
const burst = Number(values.burst);
const round = () =>
  new Promise<void>((resolve) => {
    let left = burst;
    onReply = () => {
      if (--left === 0) resolve();
    };
    for (let i = 0; i < burst; i++) client.send(createMessage('apply_request', { fn: '() => null', args: [] }, { session, metadata: { targets: [0] } }));
  });
const cpu = () => cpuSeconds(ctl.pid!);
const own = () => (process.cpuUsage().user + process.cpuUsage().system) / 1e6;
for (let i = 0; i < 500; i++) await round();
const reps = Number(values.reps);
const c0 = cpu();
const o0 = own();
const t0 = process.hrtime.bigint();
for (let i = 0; i < reps; i++) await round();
const s = Number(process.hrtime.bigint() - t0) / 1e9;
const n = reps * burst;
console.log(`controller, ${nEngines} engines, x${burst}: ${((s / reps) * 1e6).toFixed(1)} us per round, controller CPU ${(((cpu() - c0) / n) * 1e6).toFixed(1)} us per request, fakes ${(((own() - o0) / n) * 1e6).toFixed(1)} us`);
client.send(createMessage('controller_shutdown_request', {}, { session }));
await new Promise((r) => setTimeout(r, 300));
ctl.kill();
fs.rmSync(dir, { recursive: true, force: true });
process.exit(0);
