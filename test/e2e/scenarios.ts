/**
 * The "Done when" list of the desktop app, as steps that drive the UI of a page: the same
 * steps run against web mode in Chromium (web.test.ts) and, where the Electron binary is
 * installed, against the desktop window (electron.test.ts). Each step saves a screenshot.
 */
import assert from 'node:assert/strict';
import type { Page } from 'playwright-core';
import { isAlive, screenshot, until } from './helpers.js';

/** What the page-side callbacks read of an element (this file is compiled without the DOM library). */
interface El {
  dataset: Record<string, string | undefined>;
  innerText: string;
  textContent: string | null;
}

export interface StepContext {
  page: Page;
  /** Prefix of the screenshot files (web-, electron-). */
  prefix: string;
  engines: number;
}

export interface Step {
  name: string;
  run(ctx: StepContext): Promise<void>;
}

export function row(page: Page, id: number) {
  return page.locator(`[data-testid=engines-panel] .row[data-engine-id="${id}"]`);
}

export async function engineStates(page: Page): Promise<Record<string, string>> {
  return page.$$eval('[data-testid=engines-panel] .row[data-engine-id]', (rows) =>
    Object.fromEntries((rows as unknown as El[]).map((r) => [r.dataset.engineId!, r.dataset.state!])),
  );
}

export async function terminalText(page: Page): Promise<string> {
  return page.$$eval('[data-testid=terminal] .xterm-rows > div', (rows) => rows.map((r) => r.textContent ?? '').join('\n'));
}

async function tab(page: Page, name: string): Promise<void> {
  await page.getByRole('tab', { name }).click();
}

async function setSelection(page: Page, ids: number[]): Promise<void> {
  const states = await engineStates(page);
  for (const id of Object.keys(states).map(Number)) {
    const r = row(page, id);
    const selected = (await r.getAttribute('aria-selected')) === 'true';
    if (selected !== ids.includes(id)) await r.click();
  }
  const label = ids.length === 0 ? 'on all engines' : ids.length === 1 ? `on engine ${ids[0]}` : `on engines ${ids.join(', ')}`;
  await until(`the targets to read "${label}"`, async () => (await page.getByTestId('inspector-targets').textContent())?.trim() === label);
}

async function pull(page: Page, name: string): Promise<Record<string, { ok: boolean; text: string }>> {
  await tab(page, 'Pull');
  await page.getByLabel('Name to pull').fill(name);
  await page.getByRole('button', { name: 'Pull', exact: true }).click();
  return until(`the pull of ${name}`, async () => {
    const res = page.locator(`[data-testid=pull-result][data-name="${name}"]`);
    if ((await res.count()) === 0) return null;
    const cols = await res.locator('.col').evaluateAll((cs) => (cs as unknown as El[]).map((c) => [c.dataset.engineId!, c.dataset.ok === 'true', c.innerText]));
    return Object.fromEntries(cols.map(([id, ok, text]) => [id as string, { ok: ok as boolean, text: String(text) }]));
  });
}

export const STEPS: Step[] = [
  {
    name: 'the page shows the engines idle',
    async run({ page, prefix, engines }) {
      const states = await until(
        `${engines} idle engines`,
        async () => {
          const s = await engineStates(page);
          return Object.keys(s).length === engines && Object.values(s).every((x) => x === 'idle') ? s : null;
        },
        90_000,
      );
      assert.deepEqual(Object.keys(states).map(Number), [...Array(engines).keys()]);
      await until('the console prompt', async () => /In \[\d+\]/.test(await terminalText(page)), 30_000);
      await screenshot(page, `${prefix}1-engines-idle`);
    },
  },
  {
    name: 'typing %px a = 5 in the terminal shows per-engine output',
    async run({ page, prefix, engines }) {
      await page.getByTestId('terminal').click();
      await page.keyboard.type('%px a = 5');
      await page.keyboard.press('Enter');
      const text = await until(
        'per-engine output of %px',
        async () => {
          const t = await terminalText(page);
          return [...Array(engines).keys()].every((i) => new RegExp(`\\[${i}\\] Out\\[\\d+\\]: 5`).test(t)) ? t : null;
        },
        30_000,
      );
      assert.match(text, /%px a = 5/);
      await screenshot(page, `${prefix}2-terminal-px`);
    },
  },
  {
    name: 'the namespace browser lists a',
    async run({ page, prefix, engines }) {
      await tab(page, 'Namespace');
      await page.getByRole('button', { name: 'Refresh' }).click();
      const rowA = page.locator('[data-testid=namespace-table] tr[data-name="a"]');
      await rowA.waitFor({ timeout: 20_000 });
      const cells = await rowA.locator('td').allInnerTexts();
      assert.equal(cells[0], 'a');
      assert.equal(cells[1], 'number');
      assert.equal(cells[4], '5');
      assert.equal(cells[5], engines > 1 ? 'all' : '0');
      await screenshot(page, `${prefix}3-namespace`);
    },
  },
  {
    name: 'pulling a shows 5 for each engine',
    async run({ page, prefix, engines }) {
      const values = await pull(page, 'a');
      assert.deepEqual(Object.keys(values).map(Number), [...Array(engines).keys()]);
      for (const [id, v] of Object.entries(values)) {
        assert.ok(v.ok, `engine ${id} failed: ${v.text}`);
        assert.match(v.text, /^engine \d+\s+5$/);
      }
      await screenshot(page, `${prefix}4-pull-a`);
    },
  },
  {
    name: 'pushing b = [1,2,3] to engines 0 and 2 shows it only there',
    async run({ page, prefix, engines }) {
      await setSelection(page, [0, 2]);
      await tab(page, 'Push');
      await page.getByLabel('Name to push').fill('b');
      await page.getByLabel('Value to push').fill('[1,2,3]');
      await page.getByRole('button', { name: 'Push to engines 0, 2' }).click();
      await until('the push to finish', async () => (await page.locator('.toast').allInnerTexts()).some((t) => t.includes('pushed b to engines 0, 2')));
      await setSelection(page, []);
      const values = await pull(page, 'b');
      for (let i = 0; i < engines; i++) {
        const v = values[String(i)];
        if (i === 0 || i === 2) {
          assert.ok(v.ok, `engine ${i} should have b: ${v.text}`);
          assert.match(v.text, /Array\(3\)[\s\S]*1[\s\S]*2[\s\S]*3/);
        } else {
          assert.ok(!v.ok, `engine ${i} should not have b`);
          assert.match(v.text, /NameError/);
        }
      }
      await screenshot(page, `${prefix}5-push-b`);
      await tab(page, 'Namespace');
      await page.getByRole('button', { name: 'Refresh' }).click();
      const rowB = page.locator('[data-testid=namespace-table] tr[data-name="b"]');
      await rowB.waitFor({ timeout: 20_000 });
      assert.equal((await rowB.locator('td').allInnerTexts())[5], '0, 2');
    },
  },
  {
    name: "killing an engine's process turns its row dead",
    async run({ page, prefix, engines }) {
      const victim = engines - 1;
      const pid = Number(await row(page, victim).locator('[data-col=pid]').innerText());
      assert.ok(pid > 0 && isAlive(pid), `engine ${victim} has a live pid (${pid})`);
      const t0 = Date.now();
      process.kill(pid, 'SIGKILL');
      await until(`engine ${victim} to show dead`, async () => (await row(page, victim).getAttribute('data-state')) === 'dead', 15_000, 25);
      const ms = Date.now() - t0;
      assert.equal(await row(page, victim).locator('[data-col=state]').innerText(), 'dead');
      const others = await engineStates(page);
      for (let i = 0; i < victim; i++) assert.equal(others[String(i)], 'idle', `engine ${i} carries on`);
      await screenshot(page, `${prefix}6-engine-dead`);
      console.log(`# engine ${victim} showed dead ${ms} ms after SIGKILL`);
    },
  },
  {
    name: 'interrupting a busy engine turns it idle',
    async run({ page, prefix }) {
      const id = 1;
      await setSelection(page, [id]);
      await page.getByLabel('Code to run').fill('while (true) {}');
      await page.getByRole('button', { name: `Run on engine ${id}` }).click();
      await until(`engine ${id} to be busy`, async () => (await row(page, id).getAttribute('data-state')) === 'busy', 15_000, 25);
      await until('the current task to show', async () => /execute \d/.test(await row(page, id).locator('.task').innerText()), 5_000);
      await screenshot(page, `${prefix}7a-engine-busy`);
      await page.getByRole('button', { name: `Interrupt engine ${id}` }).click();
      await until(`engine ${id} to be idle again`, async () => (await row(page, id).getAttribute('data-state')) === 'idle', 15_000, 25);
      const detail = page.getByTestId('task-detail');
      await until('the interrupted task to show its error', async () => /Interrupt/i.test(await detail.innerText()), 10_000);
      await setSelection(page, []);
      await screenshot(page, `${prefix}7b-engine-interrupted`);
    },
  },
];
