/**
 * The engine table's selection sets the console's %px targets through the side channel, in
 * headless Chromium against web mode with a real cluster of 3 node engines: rows selected
 * while a line is half typed in the terminal, then Enter, and the line runs on exactly the
 * selected engines; the prompt names them; nothing was typed into the terminal for it.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Page } from 'playwright-core';
import { browserMissing, launchBrowser, screenshot, startWebMode, until, type Browser, type WebMode } from './helpers.js';

const ENGINES = 3;
const skip = browserMissing();
if (skip) {
  console.log(`# browser e2e skipped: ${skip}`);
  test('selecting engines sets the console targets, in headless Chromium', { skip }, () => {});
} else {
  describe('the console targets follow the engine table, in headless Chromium', { timeout: 240_000 }, suite);
}

function row(page: Page, id: number) {
  return page.locator(`[data-testid=engines-panel] .row[data-engine-id="${id}"]`);
}

/** The terminal's rows as text (xterm's DOM renderer draws spaces as no-break spaces). */
async function terminalLines(page: Page): Promise<string[]> {
  const rows = await page.$$eval('[data-testid=terminal] .xterm-rows > div', (els) => els.map((r) => r.textContent ?? ''));
  return rows.map((r) => r.replace(/\u00a0/g, ' ').replace(/\s+$/, ''));
}

/** The terminal row that holds the prompt (the last one that starts with `In [`). */
async function promptLine(page: Page): Promise<string> {
  return (await terminalLines(page)).filter((l) => l.startsWith('In [')).at(-1) ?? '';
}

async function setSelection(page: Page, ids: number[]): Promise<void> {
  for (let id = 0; id < ENGINES; id++) {
    const selected = (await row(page, id).getAttribute('aria-selected')) === 'true';
    if (selected !== ids.includes(id)) await row(page, id).click();
  }
  const label = ids.length === 0 ? 'on all engines' : ids.length === 1 ? `on engine ${ids[0]}` : `on engines ${ids.join(', ')}`;
  await until(`the targets to read "${label}"`, async () => (await page.getByTestId('inspector-targets').textContent())?.trim() === label);
}

function suite(): void {
  let web: WebMode;
  let browser: Browser;
  let page: Page;

  before(async () => {
    web = await startWebMode(['-n', String(ENGINES), '--engine', 'node']);
    browser = await launchBrowser();
    page = browser.page;
    await page.goto(web.url);
    await until(
      `${ENGINES} idle engines`,
      async () => {
        const states = await page.$$eval('[data-testid=engines-panel] .row[data-engine-id]', (rs) => rs.map((r) => r.getAttribute('data-state')));
        return states.length === ENGINES && states.every((s) => s === 'idle');
      },
      90_000,
    );
    await until('the console prompt with its targets', async () => /^In \[1\] px\[all\]:$/.test(await promptLine(page)), 60_000);
  });

  after(async () => {
    await browser?.close();
    await web?.stop();
  });

  test('rows selected while a line is half typed: Enter runs it on exactly those engines', async () => {
    await page.getByTestId('terminal').click();
    await page.keyboard.type('%px 40 + 2');
    await until('the half-typed line', async () => (await promptLine(page)) === 'In [1] px[all]: %px 40 + 2');
    await setSelection(page, [0, 2]);
    await until('the prompt to name engines 0 and 2, with the line kept', async () => (await promptLine(page)) === 'In [1] px[0,2]: %px 40 + 2');
    await page.getByTestId('terminal').click();
    await page.keyboard.press('Enter');
    await until('the next prompt', async () => /^In \[2\] px\[0,2\]:$/.test(await promptLine(page)), 30_000);
    const lines = await terminalLines(page);
    const outs = lines.filter((l) => /^\[\d+\] Out\[\d+\]:/.test(l));
    assert.deepEqual(outs, ['[0] Out[1]: 42', '[2] Out[1]: 42'], lines.join('\n'));
    assert.ok(!lines.some((l) => l.includes('dview.targets')), 'nothing was typed into the terminal for the selection');
    // The terminal's lines go with a failure: CI once saw two `In [1]` lines here (4 Dec), not reproduced alone.
    assert.equal(lines.filter((l) => l.startsWith('In [1]')).length, 1, `the prompt was redrawn in place:\n${lines.join('\n')}`);
    await screenshot(page, 'console-targets-1-selected-rows');
  });

  test('clearing the selection gives all engines back, at an empty prompt, in place', async () => {
    await setSelection(page, []);
    await until('the prompt to read px[all]', async () => /^In \[2\] px\[all\]:$/.test(await promptLine(page)));
    await page.getByTestId('terminal').click();
    await page.keyboard.type('%px 5');
    await page.keyboard.press('Enter');
    await until('the next prompt', async () => /^In \[3\] px\[all\]:$/.test(await promptLine(page)), 30_000);
    const lines = await terminalLines(page);
    const from = lines.findIndex((l) => l.startsWith('In [2]'));
    const outs = lines.slice(from).filter((l) => /^\[\d+\] Out\[\d+\]:/.test(l));
    assert.deepEqual(outs.map((l) => l.slice(0, 3)).sort(), ['[0]', '[1]', '[2]'], lines.join('\n'));
    assert.equal(lines.filter((l) => l.startsWith('In [2]')).length, 1);
    assert.deepEqual(browser.errors, []);
    await screenshot(page, 'console-targets-2-all');
  });
}
