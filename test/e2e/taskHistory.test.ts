/**
 * Other clients' requests in the app's task history, in headless Chromium against web mode with
 * a real cluster of 2 node engines: a script connected to the app's cluster runs a multi-engine
 * execute (through the controller) and a labelled load-balanced task; both show in the history
 * marked with the script's client number, and selecting the execute shows its output, fetched
 * from the controller's task database.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Page } from 'playwright-core';
import { Client, connectionFilePath, type AsyncResult } from 'multiengine';
import { browserMissing, launchBrowser, screenshot, startWebMode, until, type Browser, type WebMode } from './helpers.js';

const ENGINES = 2;
const PROFILE = 'hist';
const skip = browserMissing();
if (skip) {
  console.log(`# browser e2e skipped: ${skip}`);
  test("a script's requests show in the app's task history, in headless Chromium", { skip }, () => {});
} else {
  describe("a script's requests in the app's task history, in headless Chromium", { timeout: 240_000 }, suite);
}

async function idleEngines(page: Page): Promise<number> {
  return page.$$eval('[data-testid=engines-panel] .row[data-engine-id][data-state=idle]', (rs) => rs.length);
}

/** The history's entries: state and text. */
async function entries(page: Page): Promise<string[]> {
  return page.$$eval('[data-testid=tasks-panel] [data-task-id]', (es) => es.map((e) => `${e.getAttribute('data-state')} ${e.textContent?.replace(/\s+/g, ' ').trim()}`));
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
    await page.goto(web.url);
    await until(`${ENGINES} idle engines`, async () => (await idleEngines(page)) === ENGINES, 90_000);
    script = await Client.connect({ file: connectionFilePath('client', PROFILE, web.dir), direct: false });
  });

  after(async () => {
    script?.close();
    await browser?.close();
    await web?.stop();
  });

  test("a script's execute and load-balanced task show with its client number; selecting one shows its output", async () => {
    const ex = script.view([0, 1]).execute('console.log("from a script"); 1') as AsyncResult<unknown>;
    await ex;
    const lb = script.loadBalancedView();
    lb.label = 'squaring';
    assert.equal(await (lb.apply((x: number) => x * x, 9) as AsyncResult<number>).get(), 81);
    const client = `client ${script.clientNumber}`;
    const shown = await until('both requests in the history, finished', async () => {
      const es = await entries(page);
      const mine = es.filter((e) => e.includes(client));
      return mine.length === 2 && mine.every((e) => e.startsWith('ok ')) ? mine : null;
    });
    // Each entry: its state (data-state and badge), kind, code, client, engines (spaces aside).
    const [apply, execute] = shown.map((e) => e.replace(/ · \d+ ms$/, '').replace(/\s/g, '')).sort();
    assert.equal(execute, `okokexecuteconsole.log("fromascript");1${client.replace(' ', '')}·engines0,1`);
    assert.match(apply, new RegExp(`^okokapply.*x\\*x${client.replace(' ', '')}·engine[01]$`));

    await page.locator('[data-testid=tasks-panel] [data-task-id]', { hasText: 'from a script' }).click();
    await until('the output of both engines in the detail', async () => {
      const text = (await page.getByTestId('task-detail').textContent()) ?? '';
      return /\[stdout:0\]\s*from a script/.test(text) && /\[stdout:1\]\s*from a script/.test(text);
    });
    await screenshot(page, 'task-history-other-client');
    assert.deepEqual(browser.errors, []);
  });
}
