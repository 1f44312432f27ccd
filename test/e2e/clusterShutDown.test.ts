/**
 * A cluster whose controller another client shuts down, in headless Chromium through web mode.
 * - The app's own cluster (2 node engines): the Python client, in its own process, calls
 *   rc.shutdown(hub=True). The bar says the cluster was shut down on request and shows it
 *   stopped, no engine is live, the Events tab has the controller's exit with its cause, the
 *   terminal says so, and the controller, the engines and the console are gone. No event row
 *   is in red: the exit and the engines' deaths are part of the stop. Start cluster
 *   then starts a fresh cluster whose console answers a %px.
 * Also: the inspectors' panel names them once (its first tab), not a title over a tab of the same name.
 * - A cluster started with `multiengine start --daemon`, the app attached: `multiengine stop`
 *   shows it as shut down and stopped, not as an error, and Start is offered.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Page } from 'playwright-core';
import { browserMissing, isAlive, launchBrowser, ROOT, screenshot, startWebMode, until, type Browser, type WebMode } from './helpers.js';
import { engineStates, terminalText } from './scenarios.js';

const why = browserMissing();

/** Child processes of `pid` (by parent pid, from /proc). */
function childPids(pid: number): number[] {
  const out: number[] = [];
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${d}/stat`, 'utf8');
      // pid (comm) state ppid ...: comm may hold spaces, so read after its closing parenthesis.
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid) out.push(Number(d));
    } catch {
      /* gone meanwhile */
    }
  }
  return out;
}

function cmdline(pid: number): string {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
  } catch {
    return '';
  }
}

async function statusText(page: Page): Promise<string> {
  return (await page.getByTestId('cluster-status').innerText()).trim();
}

/** Waits for the cluster bar to match `re`; a failure names what it said instead, with a screenshot. */
async function barSays(page: Page, re: RegExp, shot: string): Promise<string> {
  let last = '';
  try {
    return await until(`the bar to match ${re}`, async () => {
      last = await statusText(page);
      return re.test(last) ? last : null;
    });
  } catch {
    await screenshot(page, shot);
    throw new Error(`the bar never matched ${re}; it says: ${last}`);
  }
}

async function controllerPid(page: Page): Promise<number> {
  const m = /controller pid (\d+)/.exec(await statusText(page));
  assert.ok(m, `the bar names the controller's pid: ${await statusText(page)}`);
  return Number(m[1]);
}

async function enginePids(page: Page): Promise<number[]> {
  return page.$$eval('[data-testid=engines-panel] [data-col=pid]', (cells) => cells.map((c) => Number(c.textContent)));
}

async function idleEngines(page: Page, n: number): Promise<void> {
  await until(
    `${n} idle engines`,
    async () => {
      const s = Object.values(await engineStates(page));
      return s.length === n && s.every((x) => x === 'idle');
    },
    90_000,
  );
}

async function eventRows(page: Page): Promise<{ kind: string; text: string; cause: string; tone: string }[]> {
  await page.locator('[data-testid=inspectors-panel] [role=tab][data-tab=events]').click();
  return page.$$eval('[data-testid=dashboard-events] [data-kind]', (rows) =>
    rows.map((r) => ({
      kind: r.getAttribute('data-kind') ?? '',
      text: r.querySelector('.text')?.textContent ?? '',
      cause: r.querySelector('.cause')?.textContent ?? '',
      tone: r.getAttribute('data-tone') ?? '',
    })),
  );
}

describe("the app's own cluster, shut down by the Python client in its own process", { timeout: 240_000 }, () => {
  const PROFILE = 'stopme';
  let web: WebMode;
  let browser: Browser;
  let page: Page;

  before(async () => {
    if (why) throw new Error(`cannot run the shutdown e2e: ${why}`);
    web = await startWebMode(['-n', '2', '--engine', 'node', '--profile', PROFILE]);
    browser = await launchBrowser();
    page = browser.page;
    await page.goto(web.url);
    await idleEngines(page, 2);
    await until('the console prompt', async () => /In \[\d+\]/.test(await terminalText(page)), 30_000);
  });

  after(async () => {
    await browser?.close();
    await web?.stop();
  });

  test("the inspectors' name is shown once: the first tab of their panel, no title above it", async () => {
    const panel = page.getByTestId('inspectors-panel');
    const names = await panel.getByText(/^\s*inspectors\s*$/i).evaluateAll((els) => els.map((e) => `${e.tagName}:${e.getAttribute('role') ?? ''}`));
    assert.deepEqual(names, ['BUTTON:tab']);
    assert.equal(await panel.getByRole('heading').count(), 0);
    assert.equal(await panel.getAttribute('aria-label'), 'Inspectors and monitoring');
    await screenshot(page, 'shutdown-0-layout');
  });

  test('the app shows it shut down on request and stopped, every process gone; Start brings a working cluster', async () => {
    const controller = await controllerPid(page);
    const engines = await enginePids(page);
    assert.equal(engines.length, 2);
    const consoles = childPids(web.proc.pid!).filter((p) => / console /.test(cmdline(p)));
    assert.equal(consoles.length, 1, `one console process under web mode: ${childPids(web.proc.pid!).map(cmdline).join(' | ')}`);

    const py = spawnSync(
      'python3',
      ['-c', 'import sys; from multiengine.client import Client; rc = Client(profile=sys.argv[1], dir=sys.argv[2]); rc.shutdown(hub=True); rc.close()', PROFILE, web.dir],
      { encoding: 'utf8', env: { ...process.env, PYTHONPATH: path.join(ROOT, 'engines', 'python') }, timeout: 30_000 },
    );
    assert.equal(py.status, 0, `the Python client's shutdown: ${py.stdout}${py.stderr}`);

    // "stopping" first, while the controller stops its engines; then stopped.
    const said = await barSays(page, /^stopped\s*· the cluster was shut down on request/, 'shutdown-1-failed');
    assert.match(said, new RegExp(`controller, pid ${controller}, stopped its engines`));
    await until('every process of the cluster and the console to exit', () => [controller, ...engines, ...consoles].every((p) => !isAlive(p)), 15_000);
    // Stopped: Start is offered, no engine is live, and it stays that way (not "reconnecting", not an error).
    await page.getByRole('button', { name: 'Start cluster' }).waitFor();
    await until('no live engine', async () => Object.values(await engineStates(page)).every((s) => s === 'dead'));
    await until('the terminal to say the cluster was shut down', async () => /cluster was shut down on request/.test(await terminalText(page)));
    // The app stops its console and says why; the console does not end on its own first, which would read as a crash.
    assert.doesNotMatch(await terminalText(page), /console exited/);
    const events = await until('the controller exit in the events', async () => (await eventRows(page)).find((e) => e.kind === 'controller-exited'));
    assert.match(events.text, new RegExp(`pid ${controller}`));
    assert.match(events.cause, /shut down on request/);
    // Not in red: the exit and the engines' deaths before it are part of the stop.
    const rows = await eventRows(page);
    const stop = rows.filter((e) => e.kind === 'controller-exited' || e.kind === 'died');
    assert.ok(stop.length >= 1 && stop.every((e) => e.tone === 'plain'), `the stop's rows are ordinary: ${JSON.stringify(stop)}`);
    assert.equal(await page.locator('[data-testid=dashboard-events] .row.bad').count(), 0, 'no event row in red');
    assert.ok(!rows.some((e) => e.kind === 'controller-lost'), 'a shutdown is not a lost controller');
    assert.doesNotMatch(await statusText(page), /error|lost|reconnect/i);
    assert.equal(await page.locator('.toast.error').count(), 0, await page.locator('.toasts').innerText());
    await screenshot(page, 'shutdown-1-by-python-client');

    // A fresh cluster that works.
    await page.getByRole('button', { name: 'Start cluster' }).click();
    await idleEngines(page, 2);
    const fresh = await controllerPid(page);
    assert.notEqual(fresh, controller);
    assert.doesNotMatch(await statusText(page), /shut down/);
    await until('the new console prompt', async () => /In \[\d+\]/.test((await terminalText(page)).split('cluster was shut down on request').at(-1) ?? ''), 30_000);
    await page.getByTestId('terminal').click();
    await page.keyboard.type('%px 6 * 7');
    await page.keyboard.press('Enter');
    await until('both engines to answer 42', async () => {
      const t = (await terminalText(page)).split('cluster was shut down on request').at(-1) ?? '';
      return /\[0\] Out\[\d+\]: 42/.test(t) && /\[1\] Out\[\d+\]: 42/.test(t);
    }, 30_000);
    await screenshot(page, 'shutdown-2-started-again');
    assert.deepEqual(browser.errors, []);
  });
});

describe('an attached cluster shut down by `multiengine stop`', { timeout: 240_000 }, () => {
  const PROFILE = 'term';
  let dir: string;
  let web: WebMode;
  let browser: Browser;
  let page: Page;
  let daemonStopped = false;

  const cli = (...args: string[]) => {
    const r = spawnSync(process.execPath, [path.join(ROOT, 'bin/multiengine.js'), ...args, '--profile', PROFILE, '--dir', dir], { encoding: 'utf8', timeout: 120_000 });
    assert.equal(r.status, 0, `multiengine ${args.join(' ')}: ${r.stdout}${r.stderr}`);
    return r.stdout;
  };

  before(async () => {
    if (why) throw new Error(`cannot run the shutdown e2e: ${why}`);
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'multiengine-e2e-stop-'));
    cli('start', '--daemon', '-n', '1');
    web = await startWebMode(['--attach', '--profile', PROFILE], 60_000, { MULTIENGINE_DIR: dir });
    browser = await launchBrowser();
    page = browser.page;
    await page.goto(web.url);
    await idleEngines(page, 1);
  });

  after(async () => {
    await browser?.close();
    await web?.stop();
    if (dir) {
      if (!daemonStopped) cli('stop');
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('the app shows the cluster gone and stopped, not an error', async () => {
    const controller = await controllerPid(page);
    const [engine] = await enginePids(page);
    assert.match(cli('stop'), /stopped/);
    daemonStopped = true;
    // 'stopping' first while the app tears the attachment down, then 'stopped'.
    const said = await barSays(page, new RegExp(`stopped\\s*· the cluster of profile "${PROFILE}" was shut down`), 'shutdown-3-failed');
    assert.match(said, /exited and removed its connection file/);
    await page.getByRole('button', { name: 'Start cluster' }).waitFor();
    await until('no live engine', async () => Object.values(await engineStates(page)).every((s) => s === 'dead'));
    await until('the terminal to say the cluster was shut down', async () => /cluster of profile "term" was shut down/.test(await terminalText(page)));
    const exited = await until('the controller exit in the events', async () => (await eventRows(page)).find((e) => e.kind === 'controller-exited'));
    assert.match(exited.text, new RegExp(`pid ${controller}`));
    assert.equal(exited.tone, 'plain', 'a shutdown is not shown in red');
    assert.ok(!(await eventRows(page)).some((e) => e.kind === 'controller-lost'), 'a shutdown is not a lost controller');
    assert.ok(!isAlive(controller) && !isAlive(engine), 'the daemon and its engine are gone');
    assert.doesNotMatch(await statusText(page), /error|lost|reconnect/i);
    assert.equal(await page.locator('.toast.error').count(), 0, await page.locator('.toasts').innerText());
    await screenshot(page, 'shutdown-3-attached');
    assert.deepEqual(browser.errors, []);
  });
});
