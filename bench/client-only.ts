/**
 * The client library alone against a minimal fake controller (another process) that answers
 * every work request at once, for profiling the client: prints its CPU per applySync.
 *   node --import tsx bench/client-only.ts [--reps N] [--mode sync|async]
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Client } from '../core/client/client.ts';
import { writeConnectionFile } from '../core/connection/connectionFile.ts';
import { createMessage, newSession, type EngineInfo } from '../core/protocol/messages.ts';
import { Signer } from '../core/transport/codec.ts';
import { Connection } from '../core/transport/connection.ts';
import { cpuSeconds } from '../core/util/processes.ts';

const KEY = 'k'.repeat(64);
if (process.argv[2] === 'server') {
  const file = process.argv[3];
  const session = newSession();
  const signer = new Signer(KEY);
  const info: EngineInfo = { id: 0, uuid: 'u0', kernel: 'node', language_version: '20', host: 'h', pid: 1, state: 'idle', queue: 0, restarts: 0, registered: new Date().toISOString() };
  const srv = net.createServer((s) => {
    const c = new Connection(s, signer);
    c.start({
      onMessage(msg) {
        const t = msg.header.msg_type;
        if (t === 'connect_request') c.send(createMessage('connect_reply', { status: 'ok', engines: [info], controller_pid: process.pid, heartbeat_ms: 1000 }, { session, parent: msg.header }));
        else if (t === 'apply_request') c.send(createMessage('apply_reply', { status: 'ok', result: null }, { session, parent: msg.header, metadata: { engine_id: 0 } }));
      },
    });
  });
  srv.listen(0, '127.0.0.1', () => {
    writeConnectionFile(file, { transport: 'tcp', ip: '127.0.0.1', port: (srv.address() as net.AddressInfo).port, key: KEY, signature_scheme: 'hmac-sha256', controller_pid: process.pid, profile: 'x', heartbeat_ms: 1000 });
    process.stdout.write('ready\n');
  });
} else {
  const { values } = parseArgs({ options: { reps: { type: 'string', default: '5000' }, mode: { type: 'string', default: 'sync' } } });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'me-client-only-'));
  const file = path.join(dir, 'client.json');
  const server = spawn(process.execPath, ['--import', 'tsx', new URL(import.meta.url).pathname, 'server', file], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise((r) => server.stdout!.once('data', r));
  const rc = await Client.connect({ file, allowInsecure: true });
  const v = rc.view(0);
  const reps = Number(values.reps);
  const run = async () => {
    if (values.mode === 'async') {
      const ars = [];
      for (let i = 0; i < reps; i++) ars.push(v.applyAsync('(x) => x', i));
      await rc.wait(ars);
    } else for (let i = 0; i < reps; i++) await v.applySync('() => null');
  };
  await run();
  const cpu = () => (process.cpuUsage().user + process.cpuUsage().system) / 1e6;
  const srvCpu = () => cpuSeconds(server.pid!);
  const c0 = cpu();
  const s0 = srvCpu();
  const t0 = process.hrtime.bigint();
  await run();
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  console.log(`client ${values.mode}: ${((s / reps) * 1e6).toFixed(1)} us per call, client CPU ${(((cpu() - c0) / reps) * 1e6).toFixed(1)} us, fake controller ${(((srvCpu() - s0) / reps) * 1e6).toFixed(1)} us`);
  rc.close();
  server.kill();
  fs.rmSync(dir, { recursive: true, force: true });
}
