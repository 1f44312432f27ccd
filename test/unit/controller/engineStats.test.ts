// heartbeat.stats at the controller: an engine's own report of host, CPU and memory shows in
// status (EngineInfo.stats), without an event per beat; malformed stats are dropped with the
// reason, and the beat that carried them still counts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ContentMap, EngineStats } from '../../../core/protocol/messages.js';
import { FakeEngine, fakeClient, startController, status, until } from './helpers.js';

const REPORT: EngineStats = { host: 'hostb', cpu: 37.5, rss: 123_456_789, mem_total: 8_000_000_000, load: 1.25 };

function engineEvents(client: { received: { header: { msg_type: string } }[] }): number {
  return client.received.filter((m) => m.header.msg_type === 'engine_event').length;
}

test('an engine reports its stats with a beat: status shows them with the time they came, and no event goes out per beat', async () => {
  const ctl = await startController();
  const engines: FakeEngine[] = [];
  try {
    const e0 = await FakeEngine.start(ctl);
    engines.push(e0);
    const client = await fakeClient(ctl, 'all');
    assert.equal((await status(client)).engines[0].stats, undefined, 'an engine that reported nothing has no stats');
    const events = engineEvents(client);

    const before = Date.now();
    e0.heart!.send('heartbeat', { uuid: e0.uuid, id: e0.id, stats: REPORT });
    let shown: ContentMap['status_reply'] & { status: 'ok' };
    await until(async () => (shown = await status(client)).engines[0].stats !== undefined, 5000, 'the stats in status');
    const { at, ...stats } = shown!.engines[0].stats!;
    assert.deepEqual(stats, REPORT);
    const t = Date.parse(at);
    assert.ok(t >= before - 1 && t <= Date.now(), `at ${at} is when the controller got them`);

    // A newer report replaces it; the beats in between (without stats) keep it.
    e0.heart!.send('heartbeat', { uuid: e0.uuid, id: e0.id, stats: { host: 'hostb', cpu: 99.5, rss: 200_000_000 } });
    await until(async () => (shown = await status(client)).engines[0].stats?.rss === 200_000_000, 5000, 'the second report');
    assert.equal(shown!.engines[0].stats!.cpu, 99.5);
    assert.equal(shown!.engines[0].stats!.mem_total, undefined, 'the second report had no mem_total');
    assert.ok(Date.parse(shown!.engines[0].stats!.at) >= t);
    assert.equal(engineEvents(client), events, 'stats are read with status, not published per beat');
  } finally {
    for (const e of engines) e.close();
    await ctl.stop();
  }
});

test('malformed stats are dropped with a reason that names the field; the beat still counts and no engine is harmed', async () => {
  const ctl = await startController(); // dead after 600 ms without a counted beat
  const timers: NodeJS.Timeout[] = [];
  const engines: FakeEngine[] = [];
  try {
    const e0 = await FakeEngine.start(ctl);
    const e1 = await FakeEngine.start(ctl);
    engines.push(e0, e1);
    const client = await fakeClient(ctl);
    e0.heart!.send('heartbeat', { uuid: e0.uuid, id: e0.id, stats: REPORT });
    await until(async () => (await status(client)).engines[0].stats !== undefined, 5000, 'the good stats in status');
    const dropped = (await status(client)).dropped_messages;

    // From now on engine 0's every beat carries bad stats: for far longer than dead-after.
    e0.stopBeating();
    const bad = { uuid: e0.uuid, id: e0.id, stats: { host: 'hostb', cpu: 'lots', rss: 1 } } as unknown as ContentMap['heartbeat'];
    timers.push(setInterval(() => e0.heart!.send('heartbeat', bad), 100));
    await until(async () => (await status(client)).dropped_messages >= dropped + 12, 10_000, '12 beats with malformed stats');

    const st = await status(client);
    assert.deepEqual(
      st.engines.map((e) => [e.id, e.state]),
      [
        [0, 'idle'],
        [1, 'idle'],
      ],
    );
    const { at: _at, ...kept } = st.engines[0].stats!;
    assert.deepEqual(kept, REPORT, 'the last good report stays');
    assert.match(ctl.stderr(), /engine 0's heart sent malformed stats \(the beat counts, the stats are dropped\): stats\.cpu must be a percentage of one core \(a number >= 0\), got "lots"/);
    // Both engines still take work.
    for (const id of [0, 1]) {
      const reply = await client.request('execute_request', { code: '1' }, { metadata: { targets: [id] } });
      assert.equal((reply.content as { status: string }).status, 'ok', `engine ${id} answers`);
    }
  } finally {
    for (const t of timers) clearInterval(t);
    for (const e of engines) e.close();
    await ctl.stop();
  }
});
