/**
 * Browser e2e of issue 13's app side: headless Debian Chromium against web mode, the cluster
 * started through the new-cluster form with the mpi launcher (real mpiexec, OpenMPI): the form
 * saves cluster.json and starts 2 engines, the engine sets list shows the mpi set running,
 * its output, and Stop on the set stops its engines. MULTIENGINE_UPDATE_SCREENSHOT=1 also
 * refreshes docs/app-engine-sets.png and docs/app-new-cluster.png.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Page } from 'playwright-core';
import { browserMissing, isAlive, launchBrowser, OUTPUT, ROOT, screenshot, startWebMode, until, type Browser, type WebMode } from './helpers.js';
import { confirmOn, engineStates, terminalText } from './scenarios.js';

// OpenMPI as root, and more ranks than this machine's cores: the web-mode server's environment reaches mpiexec through the controller.
const MPI_ENV = { OMPI_ALLOW_RUN_AS_ROOT: '1', OMPI_ALLOW_RUN_AS_ROOT_CONFIRM: '1', OMPI_MCA_rmaps_base_oversubscribe: '1' };
const PROFILE = 'e2e-mpi';

/** Why this test cannot run here (it fails saying so), or null. */
function missing(): string | null {
  const browser = browserMissing();
  if (browser) return browser;
  try {
    execFileSync('mpiexec', ['--version'], { stdio: 'ignore' });
    return null;
  } catch {
    return 'mpiexec is not installed (apt-get install openmpi-bin; .ci/run does it)';
  }
}

function setRow(page: Page, launcher: string) {
  return page.locator(`[data-testid=engine-sets] tr[data-launcher="${launcher}"]`);
}

describe('engine sets and the new-cluster form in headless Chromium, through real mpiexec', () => {
  let web: WebMode;
  let browser: Browser;
  let page: Page;
  let enginePids: number[] = [];

  before(async () => {
    const why = missing();
    if (why) throw new Error(`cannot run the engine-sets e2e: ${why}`);
    web = await startWebMode(['-n', '1', '--engine', 'node', '--profile', PROFILE], 60_000, MPI_ENV);
    browser = await launchBrowser();
    page = browser.page;
    await page.goto(web.url);
    await until('the local engine to be idle', async () => JSON.stringify(await engineStates(page)) === '{"0":"idle"}', 60_000);
  });

  after(async () => {
    await browser?.close();
    await web?.stop();
  });

  test('the form saves cluster.json with launcher mpi and starts 2 engines, replacing the running cluster after asking', { timeout: 120_000 }, async () => {
    await page.getByRole('button', { name: 'New cluster…' }).click();
    const form = page.getByTestId('new-cluster-form');
    await form.waitFor();
    await until('the form to read the profile', async () => (await form.getByLabel('Profile', { exact: true }).inputValue()) === PROFILE);
    await form.getByLabel('Launcher').selectOption('mpi');
    await form.getByLabel('Engines', { exact: true }).fill('2');
    await form.getByLabel('mpiexec arguments').fill('--bind-to "none"');
    await screenshot(page, 'sets-1-form');
    const asked = await confirmOn(page, () => form.getByRole('button', { name: 'Save and start' }).click(), true);
    assert.equal(asked, `Start 2 node engines through mpi in profile "${PROFILE}"? The running cluster and its 1 engine stop: everything defined on them is lost.`);
    const states = await until(
      '2 idle engines',
      async () => {
        const s = await engineStates(page);
        return JSON.stringify(s) === '{"0":"idle","1":"idle"}' ? s : null;
      },
      90_000,
    );
    assert.deepEqual(Object.keys(states), ['0', '1']);
    await form.waitFor({ state: 'detached' });
    const saved = JSON.parse(fs.readFileSync(path.join(web.dir, `profile_${PROFILE}`, 'cluster.json'), 'utf8'));
    assert.deepEqual(saved, { n: 2, engine: 'node', launcher: 'mpi', launcherOptions: { args: ['--bind-to', 'none'] } });
    enginePids = await page.$$eval('[data-testid=engines-panel] .row[data-engine-id] [data-col=pid]', (cells) => cells.map((c) => Number(c.textContent)));
    assert.equal(enginePids.length, 2);
    assert.ok(enginePids.every((p) => p > 0 && isAlive(p)), `engine pids ${enginePids.join(', ')} are alive`);
  });

  test('the engine sets list shows the mpi set running, with its engines and host, and its output', { timeout: 60_000 }, async () => {
    const row = setRow(page, 'mpi');
    await until('the mpi set to be running', async () => (await row.getAttribute('data-state')) === 'running', 20_000);
    const cells = (await row.locator('td').allInnerTexts()).map((t) => t.trim());
    assert.equal(cells[1], 'mpi');
    assert.equal(cells[2], 'running');
    assert.equal(cells[5], '2 (0–1) node');
    const setId = cells[0];
    assert.match(setId, /^set-\d+$/);
    await page.getByRole('button', { name: `Show output of ${setId}` }).click();
    const out = page.getByTestId('set-output');
    await out.waitFor();
    assert.equal(await out.getAttribute('data-set-id'), setId);
    // What mpiexec was run with (the launcher's output starts with its command line).
    await until('the output to show the mpiexec command', async () => /mpiexec -n 2 .*--bind-to none/.test(await out.innerText()));
    // The console follows the new cluster too.
    await until('the console to join the mpi cluster', async () => new RegExp(`2 engines, profile "${PROFILE}"`).test(await terminalText(page)), 30_000);
    const list = await screenshot(page, 'sets-2-list');
    // The form again, over the running mpi cluster: it reads back what was saved.
    await page.getByRole('button', { name: 'New cluster…' }).click();
    const form = page.getByTestId('new-cluster-form');
    await until('the form to read cluster.json back', async () => (await form.getByLabel('mpiexec arguments').inputValue()) === '--bind-to none');
    assert.equal(await form.getByLabel('Engines', { exact: true }).inputValue(), '2');
    const formShot = path.join(OUTPUT, 'sets-2-form.png');
    await form.screenshot({ path: formShot });
    if (process.env.MULTIENGINE_UPDATE_SCREENSHOT) {
      fs.copyFileSync(list, path.join(ROOT, 'docs', 'app-engine-sets.png'));
      fs.copyFileSync(formShot, path.join(ROOT, 'docs', 'app-new-cluster.png'));
    }
    await form.getByRole('button', { name: 'Cancel' }).click();
    await page.getByRole('button', { name: 'Close output' }).click();
  });

  test('Stop on the set asks, then stops its engines (mpiexec and its ranks exit)', { timeout: 90_000 }, async () => {
    const row = setRow(page, 'mpi');
    const setId = (await row.locator('td').first().innerText()).trim();
    // Declined: nothing stops.
    const declined = await confirmOn(page, () => page.getByRole('button', { name: `Stop ${setId}` }).click(), false);
    assert.equal(declined, `Stop engine set ${setId} (mpi)? Its 2 engines (0–1) stop: what is defined on them is lost.`);
    assert.equal(await row.getAttribute('data-state'), 'running');
    await confirmOn(page, () => page.getByRole('button', { name: `Stop ${setId}` }).click(), true);
    await until('the set to be ended', async () => (await row.getAttribute('data-state')) === 'ended', 30_000);
    await until('no live engine in the table', async () => Object.values(await engineStates(page)).every((s) => s === 'dead'), 30_000);
    await until('the engine processes to exit', () => enginePids.every((p) => !isAlive(p)), 20_000);
    await screenshot(page, 'sets-3-stopped');
    assert.deepEqual(browser.errors, []);
    assert.equal(await page.locator('.toast.error').count(), 0, await page.locator('.toasts').innerText());
  });
});

// Where the screenshots went, for whoever reads the test log.
after(() => console.log(`# screenshots: ${OUTPUT}/sets-*.png`));
