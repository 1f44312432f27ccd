// PtyService and the console's side channel: the %px targets go over a private socket, never
// into the pty, and keystrokes wait until the console has applied them. The console's end
// here is the real one (core/console/controlClient.ts) or a raw socket that acks when told.
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { CONTROL_ENV, lineSplitter, type ControlTargets } from '../../../core/console/control.js';
import { connectControl, type ControlChannel } from '../../../core/console/controlClient.js';
import { ptyService } from './fakePty.js';

const cleanup: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanup.splice(0)) c();
});

async function started(opts: Parameters<typeof ptyService>[0] = {}) {
  const t = ptyService(opts);
  cleanup.push(() => t.svc.dispose());
  await t.svc.connect('/f.json');
  const env = t.spawn.mock.calls[0][2].env;
  const socketPath = env[CONTROL_ENV];
  expect(socketPath, `the console gets ${CONTROL_ENV}`).toBeTruthy();
  return { ...t, socketPath };
}

/** A console end that records what it reads and acks only when told. */
async function rawConsole(socketPath: string) {
  const sock = net.createConnection(socketPath);
  cleanup.push(() => sock.destroy());
  const lines: Record<string, unknown>[] = [];
  sock.setEncoding('utf8');
  sock.on(
    'data',
    lineSplitter((l) => lines.push(JSON.parse(l) as Record<string, unknown>)),
  );
  await new Promise<void>((resolve) => sock.once('connect', () => resolve()));
  return { lines, ack: (seq: unknown) => sock.write(`${JSON.stringify({ type: 'applied', seq })}\n`) };
}

describe('PtyService: the %px targets through the side channel', () => {
  it('setPxTargets writes nothing to the pty; the console end gets the targets (none selected: all)', async () => {
    const { svc, fake, socketPath } = await started();
    const got: ControlTargets[] = [];
    const warnings: string[] = [];
    const channel: ControlChannel = await connectControl(socketPath, { targets: (t) => got.push(t), warn: (l) => warnings.push(l) });
    cleanup.push(() => channel.close());
    expect(got).toEqual(['all']); // what the app shows on connect
    svc.setPxTargets([0, 2]);
    await vi.waitFor(() => expect(got).toEqual(['all', [0, 2]]));
    svc.setPxTargets([]);
    await vi.waitFor(() => expect(got).toEqual(['all', [0, 2], 'all']));
    expect(fake.written).toEqual([]);
    expect(warnings).toEqual([]);
  });

  it('the socket lives in a directory only this user can enter', async () => {
    const { socketPath } = await started();
    expect(fs.statSync(path.dirname(socketPath)).mode & 0o777).toBe(0o700);
    expect(fs.statSync(socketPath).isSocket()).toBe(true);
  });

  it('keystrokes typed after a selection wait until the console has applied it, then go on in order', async () => {
    const { svc, fake, socketPath } = await started({ settleMs: 60_000 });
    const con = await rawConsole(socketPath);
    await vi.waitFor(() => expect(con.lines).toHaveLength(1));
    con.ack(con.lines[0].seq);
    svc.setPxTargets([1]);
    await vi.waitFor(() => expect(con.lines).toHaveLength(2));
    expect(con.lines[1]).toMatchObject({ type: 'targets', targets: [1] });
    svc.write('%px 1');
    svc.write('\r');
    // Applying older targets is not enough: the input waits for the newest.
    svc.setPxTargets([1, 2]);
    await vi.waitFor(() => expect(con.lines).toHaveLength(3));
    con.ack(con.lines[1].seq);
    await new Promise((r) => setTimeout(r, 50)); // a pause in which nothing may be written
    expect(fake.written).toEqual([]);
    con.ack(con.lines[2].seq);
    await vi.waitFor(() => expect(fake.written).toEqual(['%px 1\r']));
    svc.write('x');
    expect(fake.written).toEqual(['%px 1\r', 'x']);
  });

  it('Ctrl-C does not wait for the targets to be applied (the console may be stuck in a loop), and keeps the order', async () => {
    const { svc, fake, socketPath } = await started({ settleMs: 60_000 });
    const con = await rawConsole(socketPath);
    await vi.waitFor(() => expect(con.lines).toHaveLength(1));
    svc.write('x');
    svc.write('\x03');
    expect(fake.written).toEqual(['x\x03']);
  });

  it('a console that never applies the targets does not keep the input back for good', async () => {
    const { svc, fake, socketPath } = await started({ settleMs: 100 });
    const con = await rawConsole(socketPath);
    await vi.waitFor(() => expect(con.lines).toHaveLength(1));
    svc.write('1+1\r');
    await vi.waitFor(() => expect(fake.written).toEqual(['1+1\r']));
  });

  it('a console that connects later gets the newest targets, and so does one that replaces it', async () => {
    const { svc, socketPath } = await started({ settleMs: 60_000 });
    svc.setPxTargets([3]);
    const con = await rawConsole(socketPath);
    await vi.waitFor(() => expect(con.lines).toEqual([expect.objectContaining({ type: 'targets', targets: [3] })]));
    const got: ControlTargets[] = [];
    const next = await connectControl(socketPath, { targets: (t) => got.push(t), warn: () => {} });
    cleanup.push(() => next.close());
    expect(got).toEqual([[3]]);
  });
});

describe('PtyService: the console when the cluster goes', () => {
  it('stops the console and says why the cluster went: shut down (with how), or no cluster', async () => {
    const t = ptyService();
    cleanup.push(() => t.svc.dispose());
    await t.svc.connect('/f.json');
    expect(t.svc.isRunning).toBe(true);
    await t.svc.connect(null, 'the cluster was shut down on request: its controller, pid 7, stopped its engines and exited');
    expect(t.fake.killed).toBe(true);
    expect(t.svc.isRunning).toBe(false);
    expect(t.svc.attach().backlog).toContain('[the cluster was shut down on request: its controller, pid 7, stopped its engines and exited. The console starts again with the next cluster]');
    // A stop by the app itself says only that no cluster runs; a new cluster clears the reason.
    await t.svc.connect('/g.json');
    await t.svc.connect(null);
    expect(t.svc.attach().backlog.split('\n').at(-2)).toContain('[no cluster: the console starts when one is running]');
  });
});
