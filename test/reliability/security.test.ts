/** Nobody let in: wrong keys, readable connection files and listening addresses. */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client, ConnectionFileError } from 'multiengine';
import { startTestCluster, type TestCluster } from '../integration/fixture.ts';

let tc: TestCluster;
let scratch: string;
before(async () => {
  tc = await startTestCluster({ n: 1 });
  scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'multiengine-sec-'));
});
after(async () => {
  await tc?.stop();
  fs.rmSync(scratch, { recursive: true, force: true });
});

function copyConnectionFile(edit: (info: Record<string, unknown>) => void, mode = 0o600): string {
  const info = JSON.parse(fs.readFileSync(tc.cluster.connectionFile, 'utf8')) as Record<string, unknown>;
  edit(info);
  const file = path.join(scratch, `client-${Math.random().toString(36).slice(2)}.json`);
  fs.writeFileSync(file, JSON.stringify(info), { mode });
  fs.chmodSync(file, mode);
  return file;
}

test('a client with the wrong key is refused with a clear error within 2 s', async () => {
  const file = copyConnectionFile((i) => (i.key = 'f'.repeat(64)));
  const t = Date.now();
  await assert.rejects(Client.connect(file), { message: 'connection refused: signature mismatch (is this the right connection file?)' });
  assert.ok(Date.now() - t < 2000, `took ${Date.now() - t} ms`);
  assert.deepEqual(await tc.rc.view().applySync(() => 'still serving'), ['still serving']);
});

test('connection files are written 0600 and the client refuses one others can read', async () => {
  for (const f of [tc.cluster.connectionFile, tc.cluster.engineConnectionFile]) assert.equal(fs.statSync(f).mode & 0o777, 0o600, f);
  const readable = copyConnectionFile(() => {}, 0o644);
  await assert.rejects(Client.connect(readable), (e: unknown) => e instanceof ConnectionFileError && /can be read by other users \(mode 644\); run chmod 600/.test(e.message));
  const rc = await Client.connect({ file: readable, allowInsecure: true });
  assert.deepEqual(rc.ids, [0]);
  rc.close();
});

test('a connection file that is missing or malformed is named in the error', async () => {
  await assert.rejects(Client.connect(path.join(scratch, 'nope.json')), /no connection file at .*nope\.json \(is a cluster running\? start one with: multiengine start\)/);
  const bad = copyConnectionFile((i) => {
    i.port = 'eighty';
    delete i.key;
  });
  await assert.rejects(Client.connect(bad), /is invalid: port must be an integer from 1 to 65535; key must be a string/);
});

test('the controller listens on loopback only', () => {
  const info = JSON.parse(fs.readFileSync(tc.cluster.connectionFile, 'utf8')) as { ip: string; port: number };
  assert.equal(info.ip, '127.0.0.1');
  // /proc/net/tcp lists listening sockets (state 0A) as hex address:port.
  const listening = fs
    .readFileSync('/proc/net/tcp', 'utf8')
    .split('\n')
    .slice(1)
    .map((l) => l.trim().split(/\s+/))
    .filter((c) => c[3] === '0A' && parseInt(c[1].split(':')[1], 16) === info.port);
  assert.equal(listening.length, 1);
  assert.equal(listening[0][1].split(':')[0], '0100007F', 'bound to 127.0.0.1, not 0.0.0.0');
  const v6 = fs.existsSync('/proc/net/tcp6') ? fs.readFileSync('/proc/net/tcp6', 'utf8') : '';
  assert.ok(!v6.split('\n').some((l) => l.includes(`:${info.port.toString(16).toUpperCase().padStart(4, '0')} `) && / 0A /.test(l)), 'no IPv6 listener on the port');
});
