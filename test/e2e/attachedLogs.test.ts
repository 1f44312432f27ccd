/**
 * Issue 16's Logs where the app holds no process's output itself, in headless Chromium through
 * web mode: `multiengine start --daemon` in "a terminal" starts a controller and 2 node engines
 * through the mpi launcher (real OpenMPI mpiexec); web mode attaches to that profile. The Logs
 * view shows the controller's log (read from its log file in the profile folder) and what each
 * rank writes outside its requests, under its engine (mpiexec's rank tags, relayed by the
 * controller into its log). MULTIENGINE_UPDATE_SCREENSHOT=1 also refreshes docs/app-logs-attached.png.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Client, connectionFilePath, type AsyncResult } from 'multiengine';
import type { Page } from 'playwright-core';
import { mpiEnv, requireMpi } from '../harness/mpi.js';
import { browserMissing, launchBrowser, ROOT, screenshot, startWebMode, until, type Browser, type WebMode } from './helpers.js';

const PROFILE = 'term';
const why = browserMissing();

describe("the Logs of a cluster started in a terminal (mpi launcher), the app attached, in headless Chromium", { timeout: 240_000 }, () => {
  let dir: string;
  let web: WebMode;
  let browser: Browser;
  let page: Page;
  let script: Client;

  const cli = (...args: string[]) => {
    const r = spawnSync(process.execPath, [path.join(ROOT, 'bin/multiengine.js'), ...args, '--profile', PROFILE, '--dir', dir], { encoding: 'utf8', env: mpiEnv(), timeout: 120_000 });
    assert.equal(r.status, 0, `multiengine ${args.join(' ')}: ${r.stdout}${r.stderr}`);
    return r.stdout;
  };

  before(async () => {
    if (why) throw new Error(`cannot run the attached-logs e2e: ${why}`);
    await requireMpi({ python: false });
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'multiengine-e2e-term-'));
    assert.match(cli('start', '--daemon', '-n', '2', '--launcher', 'mpi'), /2 node engines through the mpi launcher/);
    web = await startWebMode(['--attach', '--profile', PROFILE], 60_000, { MULTIENGINE_DIR: dir });
    browser = await launchBrowser();
    page = browser.page;
    await page.setViewportSize({ width: 1200, height: 400 });
    await page.goto(web.url.replace('/?token=', '/dashboard.html?token='));
    script = await Client.connect({ file: connectionFilePath('client', PROFILE, dir), direct: false });
  });

  after(async () => {
    script?.close();
    await browser?.close();
    await web?.stop();
    if (dir) {
      cli('stop');
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test("the controller's log and each rank's own output, under its engine", async () => {
    await page.getByTestId('tab-logs').click();
    // Written before the app came: the controller registering the ranks.
    await until("the controller's 'engine 1 registered' line", async () => (await page.locator('[data-testid=dashboard-logs] [data-source=controller]', { hasText: 'engine 1 registered' }).count()) > 0, 30_000);
    // Past the engines' capture of console output: straight to each rank's stdout, which mpiexec forwards.
    await (script.view([0, 1]).execute('require("fs").writeSync(1, `rank ${process.env.OMPI_COMM_WORLD_RANK} wrote this outside its requests\\n`)') as AsyncResult<unknown>);
    await page.getByTestId('logs-filter').fill('outside its requests');
    const rows = await until('both ranks\' lines', async () => {
      const found = await page.$$eval('[data-testid=dashboard-logs] [data-seq]', (rs) => rs.map((r) => `${r.getAttribute('data-source')}|${r.querySelector('.stream')?.textContent}|${r.querySelector('.text')?.textContent}`));
      return found.length === 2 && found.every((f) => f.includes('outside its requests')) ? found.sort() : null;
    });
    assert.deepEqual(rows, ['engine 0|process|rank 0 wrote this outside its requests', 'engine 1|process|rank 1 wrote this outside its requests']);
    await page.getByTestId('logs-filter').fill('');
    await until('every line again', async () => (await page.locator('[data-testid=dashboard-logs] [data-source=controller]').count()) > 0);
    const file = await screenshot(page, 'app-logs-attached');
    if (process.env.MULTIENGINE_UPDATE_SCREENSHOT) fs.copyFileSync(file, path.join(ROOT, 'docs', 'app-logs-attached.png'));
  });
});
