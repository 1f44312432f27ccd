/**
 * Browser e2e: headless Debian Chromium (playwright-core) against web mode with a real
 * cluster of 4 node engines in a private MULTIENGINE_DIR. Screenshots: test/e2e/output/.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { browserMissing, isAlive, launchBrowser, OUTPUT, ROOT, screenshot, startWebMode, until, type Browser, type WebMode } from './helpers.js';
import { engineStates, ISSUE_STEPS, STEPS, type StepContext } from './scenarios.js';

const ENGINES = 4;
const skip = browserMissing();
if (skip) {
  console.log(`# browser e2e skipped: ${skip}`);
  test('web mode passes the e2e steps in headless Chromium', { skip }, () => {});
} else {
  describe('web mode in headless Chromium', webSuite);
}

function webSuite(): void {
  let web: WebMode;
  let browser: Browser;
  let ctx: StepContext;

  before(async () => {
    web = await startWebMode(['-n', String(ENGINES), '--engine', 'node']);
    browser = await launchBrowser();
    ctx = { page: browser.page, prefix: 'web-', engines: ENGINES };
  });

  after(async () => {
    await browser?.close();
    await web?.stop();
  });

  test('a wrong or missing token gets 403', async () => {
    const u = new URL(web.url);
    const base = `${u.protocol}//${u.host}`;
    assert.equal((await fetch(`${base}/`)).status, 403);
    assert.equal((await fetch(`${base}/?token=wrong`)).status, 403);
    assert.equal((await fetch(`${base}/assets/`)).status, 403);
    const ok = await fetch(web.url);
    assert.equal(ok.status, 200);
    assert.match(ok.headers.get('content-security-policy') ?? '', /script-src 'self'/);
    const denied = await browser.page.goto(`${base}/?token=wrong`);
    assert.equal(denied?.status(), 403);
    assert.match(await browser.page.innerText('body'), /403 Forbidden/);
    await screenshot(browser.page, 'web-0-wrong-token-403');
  });

  test('the page opens with the token', { timeout: 60_000 }, async () => {
    await browser.page.goto(web.url);
    await browser.page.getByTestId('engines-panel').waitFor();
    // The token leaves the address bar once the page has it.
    assert.ok(!browser.page.url().includes('token='));
    await screenshot(browser.page, 'web-0-page-open');
  });

  for (const step of STEPS) {
    test(step.name, { timeout: 120_000 }, async () => {
      await step.run(ctx);
      // MULTIENGINE_UPDATE_SCREENSHOT=1 refreshes the README's screenshot (docs/screenshot.png).
      if (process.env.MULTIENGINE_UPDATE_SCREENSHOT && step === STEPS[4]) {
        fs.copyFileSync(path.join(OUTPUT, 'web-5-push-b.png'), path.join(ROOT, 'docs', 'screenshot.png'));
      }
    });
  }

  for (const step of ISSUE_STEPS) {
    test(step.name, { timeout: 120_000 }, async () => {
      try {
        await step.run({ ...ctx, dir: web.dir });
      } catch (e) {
        await screenshot(ctx.page, `web-failed-${ISSUE_STEPS.indexOf(step) + 10}`).catch(() => {});
        throw e;
      }
    });
  }

  test('the page showed no uncaught errors', async () => {
    assert.deepEqual(browser.errors, []);
    assert.equal(await ctx.page.locator('.toast.error').count(), 0, await ctx.page.locator('.toasts').innerText());
    await screenshot(ctx.page, 'web-8-no-errors');
  });

  test('stopping web mode leaves no process behind', { timeout: 60_000 }, async () => {
    const live = Object.values(await engineStates(ctx.page)).filter((s) => s !== 'dead').length;
    assert.ok(live >= 1, 'engines are running');
    const status = (await ctx.page.getByTestId('cluster-status').innerText()).match(/controller pid (\d+)/);
    const controller = Number(status?.[1]);
    const enginePids = await ctx.page.$$eval('[data-testid=engines-panel] [data-col=pid]', (cells) => cells.map((c) => Number(c.textContent)));
    assert.ok(controller > 0, 'the controller pid is shown');
    await web.stop();
    await until('every process of the app to exit', () => [controller, ...enginePids].every((p) => !isAlive(p)), 15_000);
    await until('the page to say it lost the app', async () => /disconnected/.test(await ctx.page.getByTestId('cluster-status').innerText()), 10_000);
    await screenshot(ctx.page, 'web-9-stopped');
  });
}
