/**
 * The loopback limit: a plain TCP socket pair between two processes on this machine,
 * measured in the same run so transfers and latency can be given as a fraction of it.
 */
import { spawn } from 'node:child_process';
import net from 'node:net';
import { figure, type Figure } from './stats.ts';

// The peer process: echoes 1-byte pings, and acknowledges each full bulk transfer with one byte.
const PEER = `
const net = require('node:net');
const srv = net.createServer((s) => {
  s.setNoDelay(true);
  let want = 0, got = 0;
  s.on('data', (d) => {
    if (want === 0 && d.length === 1 && d[0] === 0x70) { s.write(d); return; }
    if (want === 0) { want = d.readUInt32BE(0); d = d.subarray(4); }
    got += d.length;
    if (got >= want) { want = 0; got = 0; s.write(Buffer.from([0x61])); }
  });
});
srv.listen(0, '127.0.0.1', () => process.stdout.write(String(srv.address().port) + '\\n'));
`;

export async function measureLoopback(bytes: number, pings: number, reps: number): Promise<Figure[]> {
  const peer = spawn(process.execPath, ['-e', PEER], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    const port = await new Promise<number>((resolve, reject) => {
      peer.stdout.once('data', (d: Buffer) => resolve(Number(d.toString().trim())));
      peer.once('exit', () => reject(new Error('loopback peer exited')));
    });
    const socket = net.connect(port, '127.0.0.1');
    socket.setNoDelay(true);
    await new Promise((r) => socket.once('connect', r));
    const next = () => new Promise<void>((r) => socket.once('data', () => r()));

    const rtts: number[] = [];
    for (let i = 0; i < pings + 20; i++) {
      const t = process.hrtime.bigint();
      socket.write(Buffer.from([0x70]));
      await next();
      if (i >= 20) rtts.push(Number(process.hrtime.bigint() - t) / 1e3);
    }

    const payload = Buffer.alloc(bytes, 1);
    const rates: number[] = [];
    for (let i = 0; i < reps + 1; i++) {
      const head = Buffer.alloc(4);
      head.writeUInt32BE(bytes);
      const t = process.hrtime.bigint();
      socket.write(head);
      socket.write(payload);
      await next();
      const s = Number(process.hrtime.bigint() - t) / 1e9;
      if (i > 0) rates.push(bytes / 1e6 / s);
    }
    socket.destroy();
    return [figure('loopback_rtt', 'loopback', 1, 'us', rtts), figure('loopback_throughput', 'loopback', 1, 'MB/s', rates)];
  } finally {
    peer.kill('SIGKILL');
  }
}
