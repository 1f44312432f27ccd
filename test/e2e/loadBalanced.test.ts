/**
 * The load-balanced queue in the app, in headless Chromium against web mode with a real cluster
 * of 2 node engines: a client connected to the app's cluster runs load-balanced tasks that wait
 * on a file (no sleeps): one on each engine, and three that wait for those. The engine table's
 * balanced column shows 1 on each engine and the cluster bar 3 unassigned with the scheme; once
 * the file exists and the tasks are done, both show 0.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Page } from 'playwright-core';
import { Client, connectionFilePath } from 'multiengine';
import { browserMissing, launchBrowser, screenshot, startWebMode, until, type Browser, type WebMode } from './helpers.js';

const ENGINES = 2;
const PROFILE = 'lb';
const skip = browserMissing();
if (skip) {
  console.log(`# browser e2e skipped: ${skip}`);
  test('the engine table and the cluster bar show the load-balanced queue, in headless Chromium', { skip }, () => {});
} else {
  describe('the load-balanced queue in the app, in headless Chromium', { timeout: 240_000 }, suite);
}

declare const require: (m: string) => typeof fs;

/** Runs on a node engine: waits until `file` exists, then returns `x`. */
async function held(file: string, x: number): Promise<number> {
  const { existsSync } = require('node:fs');
  while (!existsSync(file)) await new Promise((r) => setTimeout(r, 5));
  return x;
}

/** Each engine row's state and balanced cell, in id order. */
async function balancedCells(page: Page): Promise<string[]> {
  return page.$$eval('[data-testid=engines-panel] .row[data-engine-id]', (rs) =>
    rs.map((r) => `${r.getAttribute('data-engine-id')}:${r.getAttribute('data-state')}:${r.querySelector('[data-col=balanced]')?.textContent?.trim()}`),
  );
}

async function balancingNote(page: Page): Promise<string> {
  return (await page.getByTestId('load-balancing').textContent())?.trim() ?? '';
}

function suite(): void {
  let web: WebMode;
  let browser: Browser;
  let page: Page;
  let rc: Client;

  before(async () => {
    web = await startWebMode(['-n', String(ENGINES), '--engine', 'node', '--profile', PROFILE]);
    browser = await launchBrowser();
    page = browser.page;
    await page.goto(web.url);
    await until(`${ENGINES} idle engines`, async () => (await balancedCells(page)).join(' ') === '0:idle:0 1:idle:0', 90_000);
    rc = await Client.connect({ file: connectionFilePath('client', PROFILE, web.dir) });
  });

  after(async () => {
    rc?.close();
    await browser?.close();
    await web?.stop();
  });

  test("the balanced column and the cluster bar's unassigned count follow a load-balanced map, then read 0", async () => {
    await until('the cluster bar to show the scheme and no unassigned tasks', async () => (await balancingNote(page)) === '· load-balanced: 0 unassigned · leastload');
    const hwm = (await rc.status()).hwm;
    assert.match((await page.getByTestId('load-balancing').getAttribute('title')) ?? '', hwm === 0 ? /no limit per engine$/ : new RegExp(`at most ${hwm} per engine$`));

    const gate = path.join(web.dir, 'gate');
    const lview = rc.loadBalancedView();
    const first = lview.mapAsync(held, [gate, gate], [0, 1]);
    await until('one balanced task on each engine', async () => (await balancedCells(page)).join(' ') === '0:busy:1 1:busy:1');
    const second = lview.mapAsync((x: number) => x * 2, [1, 2, 3], { after: first });
    await until('3 unassigned tasks in the cluster bar', async () => (await balancingNote(page)) === '· load-balanced: 3 unassigned · leastload');
    assert.equal((await balancedCells(page)).join(' '), '0:busy:1 1:busy:1');
    const head = page.locator('[data-testid=engines-panel] .head [role=columnheader]', { hasText: 'balanced' });
    assert.ok(await head.evaluate((h) => h.scrollWidth <= h.clientWidth), 'the balanced header is not cut off');
    await screenshot(page, 'load-balanced-1-waiting');

    fs.writeFileSync(gate, '');
    assert.deepEqual(await first, [0, 1]);
    assert.deepEqual(await second, [2, 4, 6]);
    await until('no unassigned task in the cluster bar', async () => (await balancingNote(page)) === '· load-balanced: 0 unassigned · leastload');
    await until('no balanced task on the engines', async () => (await balancedCells(page)).join(' ') === '0:idle:0 1:idle:0');
    await screenshot(page, 'load-balanced-2-done');
    assert.deepEqual(browser.errors, []);
  });
}
