/**
 * The dashboard views (Plots, Logs, Events) in headless Chromium against web mode with a real
 * cluster of 2 node engines, on the dashboard page (dashboard.html, the same components the
 * app shows as tabs). A script connected to the cluster prints on both engines: the log search
 * finds the lines under each engine. Engine 1 spins: the CPU plot of engine 1 rises. Engine 0
 * is killed by pid with SIGKILL: the events show it died, with the signal as the cause.
 * MULTIENGINE_UPDATE_SCREENSHOT=1 also refreshes docs/app-plots.png, app-logs.png, app-events.png.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Page } from 'playwright-core';
import { Client, connectionFilePath, type AsyncResult } from 'multiengine';
import { browserMissing, launchBrowser, ROOT, screenshot, startWebMode, until, type Browser, type WebMode } from './helpers.js';

const ENGINES = 2;
const PROFILE = 'dash';
const skip = browserMissing();
if (skip) {
  console.log(`# browser e2e skipped: ${skip}`);
  test('the dashboard views in headless Chromium', { skip }, () => {});
} else {
  describe('the dashboard views (plots, logs, events) in headless Chromium', { timeout: 240_000 }, suite);
}

async function shot(page: Page, name: string): Promise<void> {
  const file = await screenshot(page, name);
  if (process.env.MULTIENGINE_UPDATE_SCREENSHOT) fs.copyFileSync(file, path.join(ROOT, 'docs', `${name}.png`));
}

async function plotNumber(page: Page, attr: 'data-last-cpu' | 'data-samples'): Promise<number> {
  const v = await page.getByTestId('dashboard-plots').getAttribute(attr);
  return v === null || v === '' ? NaN : Number(v);
}

function suite(): void {
  let web: WebMode;
  let browser: Browser;
  let page: Page;
  let script: Client;

  before(async () => {
    web = await startWebMode(['-n', String(ENGINES), '--engine', 'node', '--profile', PROFILE]);
    browser = await launchBrowser();
    page = browser.page;
    await page.goto(web.url.replace('/?token=', '/dashboard.html?token='));
    script = await Client.connect({ file: connectionFilePath('client', PROFILE, web.dir), direct: false });
    await until(`${ENGINES} engines in the plots`, async () => (await page.locator('[data-testid=plots-view] option[value="1"]').count()) === 1, 90_000);
  });

  after(async () => {
    script?.close();
    await browser?.close();
    await web?.stop();
  });

  test("an engine's printed output is found by the log search, under that engine", async () => {
    await (script.view([0, 1]).execute('console.log("needle-" + (40 + 2) + " from a script"); console.error("haystack")') as AsyncResult<unknown>);
    await page.getByTestId('tab-logs').click();
    await page.getByTestId('logs-filter').fill('needle-42');
    const rows = await until('the printed line of both engines in the search', async () => {
      const found = await page.$$eval('[data-testid=dashboard-logs] [data-seq]', (rs) => rs.map((r) => `${r.getAttribute('data-source')}|${r.classList.contains('stdout') ? 'stdout' : ''}|${r.querySelector('.text')?.textContent}`));
      // The list shows what it had until the search answers: wait for the answer (every row a match).
      return found.length === 2 && found.every((f) => f.includes('needle-42')) ? found.sort() : null;
    });
    assert.deepEqual(rows, ['engine 0|stdout|needle-42 from a script', 'engine 1|stdout|needle-42 from a script']);
    // The search narrows: the stderr line is not among them; choosing a source narrows further.
    await page.getByTestId('logs-source').selectOption('engine 1');
    await until('engine 1 alone', async () => {
      const sources = await page.$$eval('[data-testid=dashboard-logs] [data-seq]', (rs) => rs.map((r) => r.getAttribute('data-source')));
      return sources.length === 1 && sources[0] === 'engine 1';
    });
    // The controller's own log is a source too.
    await page.getByTestId('logs-source').selectOption('');
    await page.getByTestId('logs-filter').fill('');
    await until("the controller's log among the lines", async () => (await page.locator('[data-testid=dashboard-logs] [data-source=controller]').count()) > 0);
    await shot(page, 'app-logs');
  });

  test('the CPU plot of a spinning engine rises', async () => {
    await page.getByTestId('tab-plots').click();
    await page.getByTestId('plots-view').selectOption('1');
    const before = await until('a CPU number for engine 1', async () => {
      const cpu = await plotNumber(page, 'data-last-cpu');
      return Number.isFinite(cpu) ? { cpu } : null;
    });
    const spin = script.view([1]).execute('const end = Date.now() + 15000; while (Date.now() < end) {}') as AsyncResult<unknown>;
    try {
      const risen = await until(
        "engine 1's CPU rising while it spins",
        async () => {
          const cpu = await plotNumber(page, 'data-last-cpu');
          return cpu >= Math.max(15, before.cpu + 10) ? cpu : null;
        },
        14_000,
      );
      assert.ok(risen >= 15, `engine 1's CPU ${risen} %`);
      assert.equal(await page.locator('[data-testid=plot-cpu] canvas').count(), 1, 'uPlot drew the CPU chart on a canvas');
      await page.getByTestId('plots-view').selectOption('engines');
      await until('both engines drawn', async () => (await page.locator('[data-testid=plot-cpu] .u-legend .u-series').count()) === ENGINES + 1);
      // A few more seconds of the spin, for the picture.
      const seen = await plotNumber(page, 'data-samples');
      await until('4 more samples', async () => (await plotNumber(page, 'data-samples')) >= seen + 4, 10_000);
      await shot(page, 'app-plots');
    } finally {
      await spin;
    }
  });

  test('an engine killed with SIGKILL shows in the events with its cause', async () => {
    const pid = script.engine(0)?.pid;
    assert.ok(pid && pid > 0, 'engine 0 has a pid');
    process.kill(pid, 'SIGKILL');
    await page.getByTestId('tab-events').click();
    const cause = await until('engine 0 dead in the events', async () => {
      const row = page.locator('[data-testid=dashboard-events] [data-kind=died][data-engine="0"]');
      return (await row.count()) === 1 ? await row.locator('.cause').textContent() : null;
    });
    assert.match(cause ?? '', /SIGKILL/);
    // Newest first: the death is above the engines' registrations.
    const kinds = await page.$$eval('[data-testid=dashboard-events] [data-kind]', (rs) => rs.map((r) => `${r.getAttribute('data-kind')}:${r.getAttribute('data-engine')}`));
    assert.equal(kinds[0], 'died:0');
    assert.ok(kinds.includes('registered:0') && kinds.includes('registered:1'), kinds.join(' '));
    await shot(page, 'app-events');
    assert.deepEqual(browser.errors, []);
  });
}
