/**
 * core/transport/connection.ts at scale (issue 18), over real loopback sockets: frames queued in
 * one turn of the event loop go out in one write when the connection flushes per turn (the
 * controller's clients); reads of connectTcp sockets are copied out of one shared scratch
 * buffer at their size, so a small message holds no 64 KiB buffer and survives later reads.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { createMessage, newSession, type Message } from '../../../core/protocol/messages.ts';
import { Signer } from '../../../core/transport/codec.ts';
import { Connection, connectTcp } from '../../../core/transport/connection.ts';
import { until } from '../../harness/poll.ts';

const signer = new Signer('key');
const session = newSession();
const message = (i: number): Message => createMessage('execute_reply', { status: 'ok', execution_count: i } as never, { session });

/** `pairs` loopback connections: the accepted (server) ends as Connections, and the connectTcp ends receiving into `got`. */
async function pairs(n: number) {
  const accepted: net.Socket[] = [];
  const server = net.createServer((s) => accepted.push(s));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  const got: { msg: Message; parts: Buffer[] }[][] = [];
  const clients: Connection[] = [];
  for (let i = 0; i < n; i++) {
    const c = new Connection(await connectTcp('127.0.0.1', port), signer);
    const mine: { msg: Message; parts: Buffer[] }[] = [];
    got.push(mine);
    c.start({ onMessage: (msg, parts) => mine.push({ msg, parts }) });
    clients.push(c);
  }
  await until(() => accepted.length === n, 5000, 'the connections to be accepted');
  const servers = accepted.map((s) => new Connection(s, signer));
  for (const s of servers) s.start({ onMessage: () => undefined });
  const close = () => {
    for (const c of [...clients, ...servers]) c.destroy();
    server.close();
  };
  return { servers, got, close };
}

/**
 * Sends messages 1 and 2 from two immediates of the same check phase: node runs them as two
 * ticks (draining nextTicks between them) of one turn. Two zero-delay timers are not enough:
 * node reads the clock for each, so under load the second can fall into the next turn.
 */
async function writesForTwoTicks(conn: Connection): Promise<number> {
  let writes = 0;
  const write = conn.socket.write.bind(conn.socket);
  conn.socket.write = ((...args: Parameters<typeof write>) => {
    writes++;
    return write(...args);
  }) as typeof conn.socket.write;
  await new Promise<void>((resolve) => {
    setImmediate(() => conn.send(message(1)));
    setImmediate(() => conn.send(message(2)));
    // A flush queued by either send runs in the next turn's check phase, before this.
    setImmediate(() => setImmediate(resolve));
  });
  return writes;
}

test('a connection flushing per turn writes the frames of several ticks of one turn at once; per tick, one write each', async () => {
  const { servers, got, close } = await pairs(2);
  try {
    assert.equal(await writesForTwoTicks(servers[0]), 2);
    servers[1].flushPerTurn();
    assert.equal(await writesForTwoTicks(servers[1]), 1);
    await until(() => got[0].length === 2 && got[1].length === 2, 5000, 'both messages on both connections');
    for (const mine of got) assert.deepEqual(mine.map((m) => (m.msg.content as { execution_count: number }).execution_count), [1, 2]);
  } finally {
    close();
  }
});

test('reads of connectTcp sockets: small messages keep no 64 KiB buffer, and stay intact while later reads arrive on other sockets', async () => {
  const { servers, got, close } = await pairs(3);
  try {
    const count = 200;
    for (let i = 0; i < count; i++) {
      for (const s of servers) s.send(message(i));
      // Separate writes, so that each socket is read many times, in turn with the others.
      await new Promise((r) => setImmediate(r));
    }
    await until(() => got.every((m) => m.length === count), 10_000, 'every message on every connection');
    for (const mine of got) {
      mine.forEach(({ parts }, i) => {
        // The raw bytes the frame kept, read back after all later reads: still this message's.
        assert.deepEqual(JSON.parse(parts[4].toString('utf8')), { status: 'ok', execution_count: i });
        assert.ok(parts[4].buffer.byteLength < 64 * 1024, `message ${i} holds a buffer of ${parts[4].buffer.byteLength} bytes`);
      });
    }
  } finally {
    close();
  }
});
