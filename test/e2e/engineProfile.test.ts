/**
 * Issue 16, "What is it doing?", in headless Chromium through web mode: a node engine spins in
 * a busy loop (sent by a separate client); the app's Profile view shows its live stack naming
 * the loop's function and, after "Profile 3 s", a flame graph drawn from samples mostly in it.
 * The engine still runs its loop afterwards. MULTIENGINE_UPDATE_SCREENSHOT=1 also refreshes
 * docs/app-profile.png.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Client, connectionFilePath, type AsyncResult } from 'multiengine';
import type { Page } from 'playwright-core';
import { browserMissing, launchBrowser, ROOT, screenshot, startWebMode, until, type Browser, type WebMode } from './helpers.js';

const PROFILE = 'e2e-profile';
/** What the test reads of the canvas (the DOM's types are not in the tests' lib). */
interface Canvas {
  width: number;
  height: number;
  getContext(kind: '2d'): { getImageData(x: number, y: number, w: number, h: number): { data: ArrayLike<number> } };
}
const why = browserMissing();

describe('the Profile view names what a busy engine is inside, in headless Chromium', { timeout: 240_000 }, () => {
  let web: WebMode;
  let browser: Browser;
  let page: Page;
  let script: Client;

  before(async () => {
    if (why) throw new Error(`cannot run the profile e2e: ${why}`);
    web = await startWebMode(['-n', '2', '--engine', 'node', '--profile', PROFILE]);
    browser = await launchBrowser();
    page = browser.page;
    await page.setViewportSize({ width: 1400, height: 1000 });
    await page.goto(web.url);
    await until('2 idle engines', async () => (await page.$$eval('[data-testid=engines-panel] .row[data-engine-id][data-state=idle]', (rs) => rs.length)) === 2, 90_000);
    script = await Client.connect({ file: connectionFilePath('client', PROFILE, web.dir), direct: false });
  });

  after(async () => {
    script?.close();
    await browser?.close();
    await web?.stop();
  });

  test('the stack names spinHere while it runs, and "Profile 3 s" draws a flame graph mostly in it', async () => {
    const spinning = script.view(1).execute('function spinHere() { while (true) {} }\nspinHere()') as AsyncResult<unknown>;
    const ended = spinning.then(
      () => 'returned',
      (e: unknown) => String(e),
    );
    const tab = page.getByRole('tab', { name: 'Profile' });
    if ((await tab.count()) > 0) await tab.first().click();
    const view = page.getByTestId('engine-profile');
    await view.getByTestId('profile-engine').selectOption('1');
    await until('the stack to name spinHere', async () => /spinHere/.test((await view.getByTestId('profile-stack').textContent({ timeout: 1000 }).catch(() => '')) ?? ''), 30_000);
    const inner = await view.locator('[data-testid=profile-stack] li').last().textContent();
    assert.match(inner ?? '', /^spinHere /, 'the innermost frame is the loop');

    await view.getByTestId('profile-run').click();
    const summary = view.getByTestId('profile-summary');
    await until('the profile', async () => (await summary.count()) > 0, 30_000);
    assert.equal(await summary.getAttribute('data-hottest'), 'spinHere');
    const boxes = Number(await view.getByTestId('profile-flame').getAttribute('data-boxes'));
    assert.ok(boxes >= 2, `the flame graph has ${boxes} boxes`);
    // The canvas really has paint on it: some pixels are not blank.
    const painted = await view.getByTestId('profile-flame').evaluate((el) => {
      const c = el as unknown as Canvas;
      const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
      let n = 0;
      for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++;
      return n;
    });
    assert.ok(painted > 100, `only ${painted} painted pixels`);
    // The innermost frames are the bottom row: hovering it names spinHere and its share.
    const flame = view.getByTestId('profile-flame');
    const box = (await flame.boundingBox())!;
    await flame.hover({ position: { x: box.width / 2, y: box.height - 5 } });
    const shot = await screenshot(page, 'app-profile');
    if (process.env.MULTIENGINE_UPDATE_SCREENSHOT) fs.copyFileSync(shot, path.join(ROOT, 'docs', 'app-profile.png'));
    await until('hover to name the frame', async () => {
      const text = (await view.getByTestId('profile-hover').textContent()) ?? '';
      return /spinHere .*% of \d+ samples/.test(text) && text;
    }, 5000).then((t) => assert.match(String(t), /spinHere .*% of \d+ samples/));

    assert.equal(spinning.ready(), false, 'the loop still runs');
    // When the loop ends the live stack above the flame graph changes (shorter, then "runs no
    // code"): the graph stays where it was, under the mouse, and the view keeps its scroll.
    const where = () => flame.evaluate((el) => (el as unknown as { getBoundingClientRect(): { top: number } }).getBoundingClientRect().top);
    const before = await where();
    await script.view(1).interrupt();
    assert.match(await ended, /Interrupt/);
    await until('the stack to say the engine runs no code', async () => /runs no code now/.test((await view.getByTestId('profile-now').textContent()) ?? ''), 30_000);
    assert.equal(await where(), before, 'the flame graph did not move');
    assert.deepEqual(browser.errors, []);
  });
});
