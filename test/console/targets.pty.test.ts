/**
 * The app's side channel to the console (MULTIENGINE_CONSOLE_CONTROL), from the console's
 * side: `multiengine console -n 3` in a real pty, with this test as the app at the other end
 * of the Unix socket. Targets sent while a line is half typed are the ones that line runs on;
 * nothing enters the transcript and no `In []` number is taken; the prompt names the targets;
 * bad messages are reported and ignored. Also: %px on all says which dead engines it skipped.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { lineSplitter } from '../../core/console/control.js';
import { sleep, until } from '../harness/poll.js';
import { ConsoleSession, KEY, tmpDir } from './pty.js';

/** The app's end of the socket, raw: what it sends is written here as the wire format says. */
class FakeApp {
  readonly server = net.createServer();
  sock: net.Socket | null = null;
  readonly acks: number[] = [];
  private seq = 0;

  async listen(file: string): Promise<void> {
    this.server.on('connection', (s) => {
      this.sock = s;
      s.setEncoding('utf8');
      s.on(
        'data',
        lineSplitter((l) => this.acks.push((JSON.parse(l) as { seq: number }).seq)),
      );
    });
    await new Promise<void>((resolve) => this.server.listen(file, resolve));
  }

  /** Sends targets and waits until the console says they are in force. */
  async targets(targets: number[] | 'all'): Promise<void> {
    const seq = ++this.seq;
    this.raw(JSON.stringify({ type: 'targets', targets, seq }));
    await poll(`the console to apply ${JSON.stringify(targets)}`, () => this.acks.includes(seq));
  }

  raw(line: string): void {
    assert.ok(this.sock, 'the console connected');
    this.sock.write(line + '\n');
  }

  close(): void {
    this.sock?.destroy();
    this.server.close();
  }
}

function poll(what: string, check: () => boolean, timeoutMs = 20_000): Promise<void> {
  return until(check, timeoutMs, what);
}

/** How many rows of the screen start with `prefix` (a prompt redrawn in place is one row). */
function rowsStarting(screen: string, prefix: string): number {
  return screen.split('\n').filter((l) => l.startsWith(prefix)).length;
}

describe('the console with the app side channel (3 node engines)', { timeout: 180_000 }, () => {
  let dir: string;
  let app: FakeApp;
  let s: ConsoleSession;

  before(async () => {
    dir = tmpDir();
    const sockDir = fs.mkdtempSync(path.join(dir, 'control-'));
    app = new FakeApp();
    await app.listen(path.join(sockDir, 'control.sock'));
    s = new ConsoleSession(['-n', '3'], { dir, env: { MULTIENGINE_CONSOLE_CONTROL: path.join(sockDir, 'control.sock') } });
    await poll('the console to connect', () => app.sock !== null, 60_000);
    await app.targets('all');
    await s.waitForPrompt({ timeoutMs: 60_000 });
  });

  after(async () => {
    await s?.kill();
    s?.dispose();
    app?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('the prompt names the targets, all included, in the app', () => {
    assert.match(s.cursorLine(), /^In \[1\] px\[all\]:\s*$/);
  });

  test('targets sent while a line is half typed: the prompt is redrawn with the line, and Enter runs it on them', async () => {
    const from = s.mark();
    s.type('%px 40 + 2');
    await s.waitFor('In [1] px[all]: %px 40 + 2', { from });
    await app.targets([0, 2]);
    await poll('the prompt to show the new targets', () => /^In \[1\] px\[0,2\]: %px 40 \+ 2$/.test(s.cursorLine()));
    s.type(KEY.enter);
    await s.waitForPrompt({ from: from + 1, n: 2 });
    const out = s.text(from);
    assert.match(out, /^\[0\] Out\[1\]: 42$/m);
    assert.match(out, /^\[2\] Out\[1\]: 42$/m);
    assert.doesNotMatch(out, /^\[1\] Out/m, 'engine 1 is not a target');
    const screen = s.text();
    assert.ok(!screen.includes('dview.targets'), 'nothing was typed into the terminal');
    assert.equal(rowsStarting(screen, 'In [1]'), 1, `the prompt was redrawn in place:\n${screen}`);
    assert.match(s.cursorLine(), /^In \[2\] px\[0,2\]:\s*$/, 'the line took In [1], the targets none');
  });

  test('at an empty prompt the targets change in place', async () => {
    await app.targets([1]);
    await poll('the prompt to read px[1]', () => /^In \[2\] px\[1\]:\s*$/.test(s.cursorLine()));
    assert.equal(rowsStarting(s.text(), 'In [2]'), 1);
    const out = await s.run('%px 7');
    assert.match(out, /^\[1\] Out\[\d+\]: 7$/m);
    assert.doesNotMatch(out, /^\[[02]\] Out/m);
    await app.targets([0, 1, 2]);
    await poll('the prompt to read px[0-2]', () => /^In \[3\] px\[0-2\]:\s*$/.test(s.cursorLine()));
  });

  test('a malformed message is reported in one line and ignored; the half-typed line and the targets stay', async () => {
    const from = s.mark();
    s.type('%px 6 * 7');
    await s.waitFor('px[0-2]: %px 6 * 7', { from });
    app.raw('{"type":"targets","targets":"some"}');
    app.raw('not json');
    app.raw('{"type":"reboot"}');
    await s.waitFor(/ignored a message from the app: unknown type "reboot"/, { from });
    const screen = s.text(from);
    assert.match(screen, /^multiengine console: ignored a message from the app: targets must be "all" or a non-empty list of distinct engine ids: /m);
    assert.match(screen, /^multiengine console: ignored a message from the app: not JSON: "not json"$/m);
    await poll('the prompt with the line intact', () => /^In \[3\] px\[0-2\]: %px 6 \* 7$/.test(s.cursorLine()));
    s.type(KEY.enter);
    await s.waitForPrompt({ from: from + 1, n: 4 });
    const out = s.text(from);
    for (const id of [0, 1, 2]) assert.match(out, new RegExp(`^\\[${id}\\] Out\\[\\d+\\]: 42$`, 'm'));
    // The channel still works after them.
    await app.targets('all');
    await poll('the prompt to read px[all]', () => /^In \[4\] px\[all\]:\s*$/.test(s.cursorLine()));
  });

  test('%px on all notes a dead engine it skipped; explicit targets get no note', async () => {
    const pidOut = await s.run('rc.engines[1].pid');
    const pid = Number(/^(\d+)$/m.exec(pidOut)?.[1]);
    assert.ok(pid > 0, pidOut);
    process.kill(pid, 'SIGKILL');
    for (let i = 0; ; i++) {
      if (/'dead'/.test(await s.run('rc.engines[1].state'))) break;
      assert.ok(i < 100, 'the controller saw engine 1 die');
      await sleep(100); // between polls (each one is a round trip through the console)
    }
    const out = await s.run('%px 9');
    assert.match(out, /^\[note\] engine 1 is dead; ran on 0, 2$/m);
    assert.match(out, /^\[0\] Out\[\d+\]: 9$/m);
    assert.match(out, /^\[2\] Out\[\d+\]: 9$/m);
    const explicit = await s.run('%px --targets 0,2 10');
    assert.doesNotMatch(explicit, /\[note\]/);
    assert.match(explicit, /^\[2\] Out\[\d+\]: 10$/m);
  });
});
