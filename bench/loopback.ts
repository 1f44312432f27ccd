/**
 * The TCP limit of a link: a plain socket pair between two node processes, measured in the same
 * run so transfers and latency can be given as a fraction of it. On this machine's loopback
 * (measureLoopback), or across the link between two hosts (the peer started on the far host
 * with LINK_PEER, measureLink run on the near one: bench/hosts.ts).
 */
import { spawn } from 'node:child_process';
import net from 'node:net';
import { figure, type Figure, type Kind } from './stats.ts';

/**
 * The peer process (`node -e LINK_PEER [address]`): echoes 1-byte pings, acknowledges each full
 * bulk transfer with one byte, and prints the port it listens on.
 */
export const LINK_PEER = `
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
srv.listen(0, process.argv[1] || '127.0.0.1', () => process.stdout.write(String(srv.address().port) + '\\n'));
`;

/** The port a LINK_PEER process prints first. */
export function peerPort(peer: { stdout: NodeJS.ReadableStream | null; once(event: 'exit', fn: () => void): unknown }): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    peer.stdout!.once('data', (d: Buffer) => resolve(Number(d.toString().trim())));
    peer.once('exit', () => reject(new Error('the link peer exited before it listened')));
  });
}

/** Round trips of 1 byte (µs) and transfers of `bytes` (MB/s) against a LINK_PEER at host:port. */
export async function measureLink(host: string, port: number, bytes: number, pings: number, reps: number, kind: Kind = 'loopback'): Promise<Figure[]> {
  const socket = net.connect(port, host);
  socket.setNoDelay(true);
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () => resolve());
    socket.once('error', reject);
  });
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
  return [figure(`${kind}_rtt`, kind, 1, 'us', rtts), figure(`${kind}_throughput`, kind, 1, 'MB/s', rates)];
}

export async function measureLoopback(bytes: number, pings: number, reps: number): Promise<Figure[]> {
  const peer = spawn(process.execPath, ['-e', LINK_PEER], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    return await measureLink('127.0.0.1', await peerPort(peer), bytes, pings, reps);
  } finally {
    peer.kill('SIGKILL');
  }
}
