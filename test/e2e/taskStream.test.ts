/**
 * The dashboard views in headless Chromium against web mode with a real cluster of 8 node
 * engines: a `%px` typed in a separate `multiengine console --profile` (a real pty) shows in the
 * task stream, one bar per engine, whose tooltip and record name it; a 10,000-item
 * load-balanced map of a script shows its progress reaching 10,000; the engine table and the
 * compact grid show every engine, the grid by state and by CPU; the panels resize by their
 * handles (pointer and keys) and keep sizes and tabs across a reload. Screenshots of each view go to
 * test/e2e/output (and, with MULTIENGINE_UPDATE_SCREENSHOT=1, to docs/app-*.png).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Page } from 'playwright-core';
import { Client, connectionFilePath, type AsyncResult, type TaskRecord } from 'multiengine';
import { cpuColour } from '../../renderer/lib/engineCells.ts';
import { ConsoleSession } from '../console/pty.js';
import { browserMissing, launchBrowser, ROOT, screenshot, startWebMode, until, type Browser, type WebMode } from './helpers.js';

const ENGINES = 8;
const PROFILE = 'dash';
const skip = browserMissing();
if (skip) {
  console.log(`# browser e2e skipped: ${skip}`);
  test('the dashboard views, in headless Chromium', { skip }, () => {});
} else {
  describe('the dashboard views (task stream, progress, many engines), in headless Chromium', { timeout: 300_000 }, suite);
}

/** A view's screenshot; with MULTIENGINE_UPDATE_SCREENSHOT=1 also docs/<name>.png. */
async function shot(page: Page, name: string): Promise<void> {
  const file = await screenshot(page, name);
  if (process.env.MULTIENGINE_UPDATE_SCREENSHOT === '1') fs.copyFileSync(file, path.join(ROOT, 'docs', `${name}.png`));
}

interface Drawn {
  id: string;
  engine: number;
  x: number;
  y: number;
}

/** What the task stream says it drew: bars per lane, and the bars listed with their centres. */
async function drawn(page: Page): Promise<{ bars: number; lanes: [number, number][]; list: Drawn[] }> {
  return page.getByTestId('stream-summary').evaluate((el) => ({
    bars: Number(el.getAttribute('data-bars')),
    lanes: JSON.parse(el.getAttribute('data-lanes') ?? '[]') as [number, number][],
    list: [...el.querySelectorAll('li')].map((li) => ({ id: li.dataset.msgId!, engine: Number(li.dataset.engine), x: Number(li.dataset.x), y: Number(li.dataset.y) })),
  }));
}

function suite(): void {
  let web: WebMode;
  let browser: Browser;
  let page: Page;
  let script: Client;
  let con: ConsoleSession | undefined;

  before(async () => {
    web = await startWebMode(['-n', String(ENGINES), '--engine', 'node', '--profile', PROFILE]);
    browser = await launchBrowser();
    page = browser.page;
    await page.goto(web.url);
    await until(`${ENGINES} idle engines`, async () => (await page.$$('[data-testid=engines-panel] .row[data-engine-id][data-state=idle]')).length === ENGINES, 120_000);
    script = await Client.connect({ file: connectionFilePath('client', PROFILE, web.dir), direct: false });
  });

  after(async () => {
    await con?.kill();
    con?.dispose();
    script?.close();
    await browser?.close();
    await web?.stop();
  });

  test("a %px from a separate console shows in the task stream, a bar on each engine; hovering and clicking show it", async () => {
    await page.getByRole('tab', { name: 'Task stream' }).click();
    con = new ConsoleSession(['--profile', PROFILE], { dir: web.dir, cols: 120, rows: 30 });
    await con.waitForPrompt({ timeoutMs: 60_000 });
    con.line('%px console.log("px from the console"); 6 * 7');
    await con.waitFor(/\[7\] Out\[\d+\]: 42/, { timeoutMs: 30_000 });

    // The stream's bars, matched with the controller's records: the %px is one request on every engine.
    const px = await until('the %px on every engine in the task stream', async () => {
      const d = await drawn(page);
      if (d.list.length === 0) return null;
      const records = (await script.dbQuery({ msg_id: { $in: [...new Set(d.list.map((b) => b.id))] } })) as TaskRecord[];
      const mine = records.filter((r) => r.code?.includes('px from the console'));
      if (mine.length === 0) return null;
      const id = mine[0].msg_id;
      const bars = d.list.filter((b) => b.id === id);
      return bars.length === ENGINES ? { id, bars, client: mine[0].client, lanes: d.lanes } : null;
    }, 30_000);
    assert.deepEqual(px.bars.map((b) => b.engine).sort((a, b) => a - b), [...Array(ENGINES).keys()]);
    assert.notEqual(px.client, script.clientNumber, 'the %px came from the console, another client');
    assert.deepEqual(px.lanes.map(([e]) => e), [...Array(ENGINES).keys()], 'one lane per engine');
    for (const [engine, n] of px.lanes) assert.ok(n >= 1, `engine ${engine}'s lane draws the %px bar`);

    // Frozen on everything (Fit), hover the bar on engine 3: the tooltip names the code; a click opens its record.
    await page.getByRole('button', { name: 'Fit' }).click();
    // Where the bar is drawn is read again on each try: the layout may still move (a panel settling,
    // lanes added) between reading a position and the mouse getting there.
    let at = { x: 0, y: 0 };
    const tip = await until('the tooltip over the bar of engine 3 after Fit', async () => {
      const bar = (await drawn(page)).list.find((b) => b.id === px.id && b.engine === 3);
      const box = await page.getByTestId('task-stream-canvas').boundingBox();
      if (!bar || !box) return null;
      at = { x: box.x + bar.x, y: box.y + bar.y };
      await page.mouse.move(at.x, at.y);
      return (await page.getByTestId('stream-tip').textContent({ timeout: 500 }).catch(() => null)) ?? null;
    });
    assert.match(tip, /engine 3/);
    assert.match(tip, /px from the console/);
    await page.mouse.click(at.x, at.y);
    await until('the record of the %px with every engine\'s output', async () => {
      const text = (await page.getByTestId('task-detail').textContent({ timeout: 500 }).catch(() => '')) ?? '';
      return [...Array(ENGINES).keys()].every((e) => text.includes(`[stdout:${e}] px from the console`));
    });
    assert.equal(await page.getByTestId('task-detail').locator(`[data-engine-id="3"]`).getAttribute('data-state'), 'ok');
    await screenshot(page, 'task-stream-px');

    // More of a day's work, for the picture: a labelled map, a failing task; errors are marked.
    const lb = script.loadBalancedView();
    lb.label = 'simulate';
    const sim = lb.map((i: number) => {
      const end = Date.now() + 20 + (i % 5) * 15;
      while (Date.now() < end);
      return i;
    }, [...Array(160).keys()]) as Promise<number[]>;
    lb.label = 'failing';
    const failing = lb.apply(() => {
      throw new Error('boom');
    }) as AsyncResult<unknown>;
    await assert.rejects(failing.get(), /boom/);
    assert.equal((await sim).length, 160);
    await page.getByRole('button', { name: 'Fit' }).click();
    const after = await until('the map and the error drawn', async () => {
      const d = await page.getByTestId('stream-summary').evaluate((el) => ({ errors: Number(el.getAttribute('data-errors')), bars: Number(el.getAttribute('data-bars')) }));
      return d.errors >= 1 && d.bars >= 160 + ENGINES ? d : null;
    });
    assert.ok(after.bars >= 160 + ENGINES);
    const legend = (await page.getByRole('list', { name: 'Legend' }).textContent()) ?? '';
    for (const key of ['simulate', 'failing', 'execute', 'error']) assert.ok(legend.includes(key), `the legend names ${key}: ${legend}`);
    await page.getByRole('button', { name: 'Close the task' }).click();
    await shot(page, 'app-task-stream');
    assert.deepEqual(browser.errors, []);
  });

  test('a 10,000-item load-balanced map shows its progress reaching 10,000', async () => {
    await page.getByRole('tab', { name: 'Progress' }).click();
    const lb = script.loadBalancedView();
    lb.label = 'ten thousand squares';
    const big = lb.map((x: number) => x * x, [...Array(10_000).keys()]) as Promise<number[]>;
    lb.label = 'slow items';
    const slow = lb.map((x: number) => {
      const end = Date.now() + 40;
      while (Date.now() < end);
      return x;
    }, [...Array(400).keys()]) as Promise<number[]>;
    const entry = page.locator('[data-testid=progress-entry]', { hasText: 'ten thousand squares' });
    const seen = await until('the map counted to 10,000', async () => {
      const [done, total, state] = await Promise.all(['data-done', 'data-total', 'data-state'].map((a) => entry.getAttribute(a, { timeout: 500 }).catch(() => null)));
      return total === '10000' && done === '10000' ? { done, total, state } : null;
    }, 120_000);
    assert.equal(seen.state, 'done');
    assert.match((await entry.textContent()) ?? '', /10,000\s*\/\s*10,000/);
    assert.equal((await big).length, 10_000);
    // The slow map while it runs: counted in items, with an estimate of the time left.
    const slowEntry = page.locator('[data-testid=progress-entry]', { hasText: 'slow items' });
    await until('the slow map part way, with a time left', async () => {
      const done = Number(await slowEntry.getAttribute('data-done', { timeout: 500 }).catch(() => 0));
      const text = (await slowEntry.textContent({ timeout: 500 }).catch(() => '')) ?? '';
      return done > 0 && done < 400 && /left/.test(text);
    }, 60_000, 50);
    assert.equal(await slowEntry.getAttribute('data-total'), '400');
    await shot(page, 'app-progress');
    assert.equal((await slow).length, 400);
    await until('the slow map done', async () => (await slowEntry.getAttribute('data-done')) === '400');
    assert.deepEqual(browser.errors, []);
  });

  test('the engine table lists every engine; the compact view shows a cell per engine by state and by CPU', async () => {
    const rows = await page.$$eval('[data-testid=engines-panel] .row[data-engine-id]', (rs) => rs.map((r) => Number(r.getAttribute('data-engine-id'))));
    assert.deepEqual(rows.sort((a, b) => a - b), [...Array(ENGINES).keys()]);
    await page.getByRole('tab', { name: 'Compact' }).click();
    const cells = () => page.$$eval('[data-testid=engine-grid] [data-engine-id]', (cs) => cs.map((c) => [Number(c.getAttribute('data-engine-id')), c.getAttribute('data-state'), (c as unknown as { style: { background: string } }).style.background] as const));
    assert.equal((await cells()).length, ENGINES);
    // Busy loops on half the engines: their cells turn busy, and hot by CPU.
    const busy = script.view([0, 2, 4, 6]).execute('const t = Date.now(); while (Date.now() - t < 10000);') as AsyncResult<unknown>;
    await until('four busy cells', async () => (await cells()).filter(([, s]) => s === 'busy').length === 4, 15_000);
    const byState = await cells();
    assert.notEqual(byState.find(([id]) => id === 0)![2], byState.find(([id]) => id === 1)![2], 'a busy and an idle engine differ by state');
    await page.getByRole('radio', { name: 'CPU' }).click();
    // Each cell's colour is its engine's CPU on the scale; the spinning engines read hotter than the idle ones.
    const hot = await until('busy engines hotter than idle ones by CPU', async () => {
      const cpu = await page.$$eval('[data-testid=engine-grid] [data-engine-id]', (cs) => cs.map((c) => [Number(c.getAttribute('data-engine-id')), c.getAttribute('data-cpu') || null, (c as unknown as { style: { background: string } }).style.background] as const));
      if (cpu.some(([, v]) => v === null)) return null;
      for (const [id, v, bg] of cpu) assert.equal(bg, cpuColour(Number(v)), `engine ${id}: CPU ${v}% in its colour`);
      const at = (ids: number[]) => ids.map((id) => Number(cpu.find(([e]) => e === id)![1]));
      return Math.min(...at([0, 2, 4, 6])) > Math.max(...at([1, 3, 5, 7])) + 10 ? cpu : null;
    }, 20_000);
    assert.equal(hot.length, ENGINES);
    await shot(page, 'app-compact-engines');
    await busy;
    assert.deepEqual(browser.errors, []);
  });

  test('the panels resize with their drag handles, and keep their sizes and tabs after a reload', async () => {
    const width = async () => (await page.getByTestId('console-panel').boundingBox())!.width;
    const before = await width();
    const handle = (await page.getByTestId('resizer-cols').boundingBox())!;
    await page.mouse.move(handle.x + handle.width / 2, handle.y + handle.height / 2);
    await page.mouse.down();
    await page.mouse.move(handle.x + 200, handle.y + handle.height / 2, { steps: 5 });
    await page.mouse.up();
    const wider = await width();
    assert.ok(wider > before + 150, `the console column grew by the drag: ${before} -> ${wider}`);
    const tasksHeight = (await page.getByTestId('tasks-panel').boundingBox())!.height;
    await page.getByTestId('resizer-left').focus();
    for (let i = 0; i < 5; i++) await page.keyboard.press('ArrowUp');
    const taller = (await page.getByTestId('tasks-panel').boundingBox())!.height;
    assert.ok(taller > tasksHeight + 30, `the arrow keys move a handle: ${tasksHeight} -> ${taller}`);
    await page.reload();
    await until('the engines after the reload', async () => (await page.$$('[data-testid=engine-grid] [data-engine-id]')).length === ENGINES);
    assert.ok(Math.abs((await width()) - wider) < 3, 'the column width is remembered');
    assert.ok(Math.abs((await page.getByTestId('tasks-panel').boundingBox())!.height - taller) < 3, 'the row height is remembered');
    assert.equal(await page.getByRole('tab', { name: 'Progress' }).getAttribute('aria-selected'), 'true', 'the chosen tab is remembered');
    assert.deepEqual(browser.errors, []);
  });
}
