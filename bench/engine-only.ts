/**
 * One engine against a minimal in-process controller, for profiling the engine alone:
 *   node --import tsx bench/engine-only.ts [--kind node|python] [--reps N] [--type apply|keys|execute]
 * Sends requests one at a time and prints the round trip and the engine's CPU per request.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { writeConnectionFile } from '../core/connection/connectionFile.ts';
import { createMessage, newSession, type Message, type MsgType } from '../core/protocol/messages.ts';
import { Signer } from '../core/transport/codec.ts';
import { Connection } from '../core/transport/connection.ts';
import { engineCommand } from '../core/controller/localLauncher.ts';
import { cpuSeconds } from '../core/util/processes.ts';

const { values } = parseArgs({ options: { kind: { type: 'string', default: 'node' }, reps: { type: 'string', default: '3000' }, type: { type: 'string', default: 'apply' }, burst: { type: 'string', default: '1' } } });
const key = 'k'.repeat(64);
const session = newSession();
const signer = new Signer(key);
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'me-engine-only-'));
const file = path.join(dir, 'engine.json');
let main: Connection | null = null;
let onReply: ((m: Message) => void) | null = null;
const registered = new Promise<void>((resolve) => {
  const server = net.createServer((socket) => {
    const conn = new Connection(socket, signer);
    conn.start({
      onMessage(msg) {
        const t = msg.header.msg_type;
        if (t === 'registration_request') {
          main = conn;
          conn.send(createMessage('registration_reply', { status: 'ok', id: 0, heartbeat_ms: 1000 }, { session, parent: msg.header }));
          resolve();
        } else if (t.endsWith('_reply')) onReply?.(msg);
      },
    });
  });
  server.listen(0, '127.0.0.1', () => {
    writeConnectionFile(file, { transport: 'tcp', ip: '127.0.0.1', port: (server.address() as net.AddressInfo).port, key, signature_scheme: 'hmac-sha256', controller_pid: process.pid, profile: 'x', heartbeat_ms: 1000 });
    const cmd = engineCommand({ kind: values.kind as 'node' | 'python' }, file, 0);
    const child = spawn(cmd.command, cmd.args, { stdio: ['ignore', 'inherit', 'inherit'] });
    process.on('exit', () => child.kill('SIGKILL'));
    (globalThis as { enginePid?: number }).enginePid = child.pid;
    (globalThis as { engineExited?: Promise<unknown> }).engineExited = new Promise((r) => child.once('exit', r));
  });
});
await registered;
await new Promise((r) => setTimeout(r, 300));
const pid = (globalThis as { enginePid?: number }).enginePid!;
const cpu = () => cpuSeconds(pid);
const own = () => process.cpuUsage().user / 1e6 + process.cpuUsage().system / 1e6;
const py = values.kind === 'python';
const req = (): [MsgType, object] =>
  values.type === 'keys' ? ['keys_request', {}] : values.type === 'execute' ? ['execute_request', { code: 'a=1' }] : ['apply_request', { fn: py ? 'lambda: None' : '() => null', args: [] }];
const burst = Number(values.burst);
const round = () =>
  new Promise<void>((resolve) => {
    let left = burst;
    onReply = () => {
      if (--left === 0) resolve();
    };
    for (let i = 0; i < burst; i++) {
      const [t, c] = req();
      main!.send(createMessage(t as 'keys_request', c as never, { session, metadata: { targets: [0] } }));
    }
  });
for (let i = 0; i < 300; i++) await round();
const reps = Number(values.reps);
const c0 = cpu();
const o0 = own();
const t0 = process.hrtime.bigint();
for (let i = 0; i < reps; i++) await round();
const s = Number(process.hrtime.bigint() - t0) / 1e9;
const n = reps * burst;
console.log(`${values.kind} ${values.type} x${burst}: ${((s / reps) * 1e6).toFixed(1)} us per round, engine CPU ${(((cpu() - c0) / n) * 1e6).toFixed(1)} us per request, fake controller ${(((own() - o0) / n) * 1e6).toFixed(1)} us`);
main!.send(createMessage('shutdown_request', {}, { session }));
await Promise.race([(globalThis as { engineExited?: Promise<unknown> }).engineExited, new Promise((r) => setTimeout(r, 3000))]);
fs.rmSync(dir, { recursive: true, force: true });
process.exit(0);
