/**
 * The "Done when" list of the desktop app, as steps that drive the UI of a page: the same
 * steps run against web mode in Chromium (web.test.ts) and, where the Electron binary is
 * installed, against the desktop window (electron.test.ts). Each step saves a screenshot.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
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

// ---------------------------------------------------------------------------------------------
// What a new user hit (issue 11), as steps against web mode. They run after STEPS: the cluster
// then has engines 0–2 idle and engine 3 dead.

/** The web-mode context, plus its MULTIENGINE_DIR (where the settings are remembered). */
export interface IssueContext extends StepContext {
  dir: string;
}

export interface IssueStep {
  name: string;
  run(ctx: IssueContext): Promise<void>;
}

/** Clicks `target` and answers the confirmation it raises; resolves with the question asked. */
export async function confirmOn(page: Page, click: () => Promise<void>, accept: boolean): Promise<string> {
  const asked = new Promise<string>((resolve) =>
    page.once('dialog', (d) => {
      resolve(d.message());
      void (accept ? d.accept() : d.dismiss());
    }),
  );
  await click();
  return asked;
}

async function targets(page: Page, label: string): Promise<void> {
  await until(`the targets to read "${label}"`, async () => (await page.getByTestId('inspector-targets').textContent())?.trim() === label);
}

function liveIds(states: Record<string, string>): number[] {
  return Object.entries(states)
    .filter(([id, s]) => Number(id) >= 0 && s !== 'dead')
    .map(([id]) => Number(id));
}

async function fieldError(page: Page, scope: string): Promise<string> {
  return until(`an error under the field in ${scope}`, async () => {
    const el = page.locator(`${scope} [data-testid=field-error]`);
    return (await el.count()) > 0 ? await el.first().innerText() : null;
  });
}

function overlaps(a: { x: number; y: number; width: number; height: number }, b: { x: number; y: number; width: number; height: number }): boolean {
  return a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height;
}

const INSPECTORS = '[data-testid=inspectors-panel]';

export const ISSUE_STEPS: IssueStep[] = [
  {
    name: 'attaching to a profile that does not exist asks first, keeps the running cluster and remembers nothing',
    async run({ page, prefix, dir }) {
      const settingsFile = path.join(dir, 'app-settings.json');
      const before = fs.existsSync(settingsFile) ? fs.readFileSync(settingsFile, 'utf8') : null;
      const states = await engineStates(page);
      await page.getByRole('button', { name: 'Attach…' }).click();
      await page.getByLabel('Profile to attach to').fill('nope');
      // Declined: nothing happens.
      const q = await confirmOn(page, () => page.getByRole('button', { name: 'Attach', exact: true }).click(), false);
      assert.match(q, /^Attach to profile "nope"\? This stops the local cluster and its 3 engines/);
      assert.equal(await page.locator('[data-testid=field-error]').count(), 0);
      // Accepted: the target is checked first; the cluster stays.
      await confirmOn(page, () => page.getByRole('button', { name: 'Attach', exact: true }).click(), true);
      const err = await fieldError(page, 'header');
      assert.match(err, /^no cluster is running with profile "nope"/);
      assert.equal(await page.getByLabel('Profile to attach to').getAttribute('aria-invalid'), 'true');
      assert.match(await page.getByTestId('cluster-status').innerText(), /local cluster\s+app/);
      assert.deepEqual(await engineStates(page), states);
      assert.equal(await page.locator('.toast.error').count(), 0);
      await screenshot(page, `${prefix}10-attach-refused`);
      const after = fs.existsSync(settingsFile) ? fs.readFileSync(settingsFile, 'utf8') : null;
      assert.equal(after, before, 'the failed choice is not remembered');
      await page.getByRole('button', { name: 'Attach…' }).click(); // closes the form
    },
  },
  {
    name: 'errors stand under their field in the words of the form; toasts stay clear of the inspectors',
    async run({ page, prefix }) {
      await tab(page, 'Pull');
      await page.getByLabel('Name to pull').fill('a');
      await page.getByRole('button', { name: 'Pull', exact: true }).click();
      await page.locator('[data-testid=pull-result][data-name="a"]').waitFor();
      await page.getByLabel('Name to pull').fill('1x');
      await page.getByRole('button', { name: 'Pull', exact: true }).click();
      const pullErr = await fieldError(page, INSPECTORS);
      assert.equal(pullErr, 'The name "1x" is not a valid name: names are identifiers, like a, x1 or my_value');
      assert.equal(await page.getByLabel('Name to pull').getAttribute('aria-invalid'), 'true');
      // The result of the pull before is gone: it never stands under another name.
      assert.equal(await page.locator('[data-testid=pull-result]').count(), 0);
      await screenshot(page, `${prefix}11a-pull-name-error`);

      await tab(page, 'Scatter / gather');
      await page.getByLabel('Name to scatter or gather').fill('nothere');
      await page.getByRole('button', { name: 'Gather from all engines' }).click();
      const gatherErr = await fieldError(page, INSPECTORS);
      assert.match(gatherErr, /^cannot gather nothere:\nengine 0: NameError/);
      assert.doesNotMatch(gatherErr, /call to method|PayloadError|gather\.name/);
      await screenshot(page, `${prefix}11b-gather-error`);

      await tab(page, 'Push');
      await page.getByLabel('Name to push').fill('b2');
      await page.getByLabel('Value to push').fill('[1,');
      await page.getByRole('button', { name: 'Push to all engines' }).click();
      assert.match(await fieldError(page, INSPECTORS), /^the value is not valid JSON/);
      assert.equal(await page.getByLabel('Value to push').getAttribute('aria-invalid'), 'true');
      assert.equal(await page.locator('.toast.error').count(), 0, 'field errors are not toasts');

      // A successful push says so in a toast that covers none of the inspectors, and goes away.
      await page.getByLabel('Value to push').fill('[1, 2]');
      await page.getByRole('button', { name: 'Push to all engines' }).click();
      const toast = page.locator('.toast', { hasText: 'pushed b2 to all engines' });
      await toast.waitFor();
      const box = (await toast.boundingBox())!;
      for (const panel of ['inspectors-panel', 'engines-panel']) assert.ok(!overlaps(box, (await page.getByTestId(panel).boundingBox())!), `the toast covers the ${panel}`);
      assert.equal(await page.locator(`${INSPECTORS} [data-testid=field-error]`).count(), 0, 'a new request clears the old errors');
      await screenshot(page, `${prefix}11c-toast-corner`);
      await until('the toast to close itself', async () => (await toast.count()) === 0, 15_000);
    },
  },
  {
    name: 'the namespace browser follows the console, and "all" means the engines alive now',
    async run({ page, prefix }) {
      await tab(page, 'Namespace');
      await page.locator('[data-testid=namespace-table]').waitFor();
      await page.getByTestId('terminal').click();
      await page.keyboard.type('%px c = 7');
      await page.keyboard.press('Enter');
      // No Refresh: the browser lists again when a request of any client finished.
      const rowC = page.locator('[data-testid=namespace-table] tr[data-name="c"]');
      await rowC.waitFor({ timeout: 15_000 });
      assert.equal((await rowC.locator('td').allInnerTexts())[5], 'all');
      await page.getByLabel('Number of engines').fill('1');
      await page.getByLabel('Engine kind').selectOption('node');
      await page.getByRole('button', { name: 'Add engines' }).click();
      await until('engine 4 idle', async () => (await engineStates(page))['4'] === 'idle', 30_000);
      await until('c to show the engines it is on, not "all"', async () => (await rowC.locator('td').allInnerTexts())[5] === '0, 1, 2');
      assert.match(await terminalText(page), /%px c = 7/);
      await screenshot(page, `${prefix}12-namespace-follows`);
    },
  },
  {
    name: "the task detail follows the engine: running while its row says busy; done counts the user's work only",
    async run({ page, prefix }) {
      const done = async () => Number((await row(page, 1).locator('[data-col=done]').innerText()).trim());
      await setSelection(page, [1]);
      const before = await done();
      // Three namespace listings (the app's own probes) do not count.
      await tab(page, 'Namespace');
      for (let i = 0; i < 3; i++) await page.getByRole('button', { name: 'Refresh' }).click();
      await page.getByLabel('Code to run').fill('await new Promise((r) => setTimeout(r, 2500)); 1');
      await page.getByRole('button', { name: 'Run on engine 1' }).click();
      await until('engine 1 busy', async () => (await row(page, 1).getAttribute('data-state')) === 'busy', 10_000, 25);
      const detail = page.locator('[data-testid=task-detail] .engine[data-engine-id="1"]');
      await until('the task detail to say running', async () => (await detail.getAttribute('data-state')) === 'running', 5_000, 25);
      assert.match(await detail.innerText(), /engine 1 · running/);
      await screenshot(page, `${prefix}13-task-running`);
      await until('the task to finish', async () => (await detail.getAttribute('data-state')) === 'ok', 15_000);
      await until('engine 1 to count one more task', async () => (await done()) === before + 1, 10_000);
      await setSelection(page, []);
    },
  },
  {
    name: 'per-engine Stop and Restart ask first and say when done; a restart keeps the selection',
    async run({ page, prefix }) {
      await setSelection(page, [0, 2]);
      const q = await confirmOn(page, () => page.getByRole('button', { name: 'Restart engine 0' }).click(), true);
      assert.match(q, /^Restart engine 0\?/);
      await page.locator('.toast', { hasText: 'restarted engine 0' }).waitFor({ timeout: 20_000 });
      await until('engine 0 idle again', async () => (await row(page, 0).getAttribute('data-state')) === 'idle', 20_000);
      await targets(page, 'on engines 0, 2');
      const stopQ = await confirmOn(page, () => page.getByRole('button', { name: 'Stop engine 4' }).click(), false);
      assert.match(stopQ, /^Stop engine 4\?/);
      assert.equal(await row(page, 4).getAttribute('data-state'), 'idle');
      await confirmOn(page, () => page.getByRole('button', { name: 'Stop engine 4' }).click(), true);
      await page.locator('.toast', { hasText: 'stopped engine 4' }).waitFor({ timeout: 20_000 });
      await until('engine 4 gone or dead', async () => ['dead', undefined].includes((await engineStates(page))['4']), 20_000);
      await screenshot(page, `${prefix}14-engine-actions`);
      await setSelection(page, []);
    },
  },
  {
    name: 'Restart cluster says what comes back and brings back every engine that was there',
    async run({ page, prefix }) {
      await page.getByLabel('Number of engines').fill('1');
      await page.getByLabel('Engine kind').selectOption('python');
      await page.getByRole('button', { name: 'Add engines' }).click();
      const kinds = async () => {
        const cells = await page.$$eval('[data-testid=engines-panel] .row[data-engine-id]', (rows) =>
          rows.map((r) => [(r as unknown as { dataset: Record<string, string> }).dataset.state, (r as unknown as { children: { textContent: string }[] }).children[2].textContent.trim()]),
        );
        return cells
          .filter(([s]) => s !== 'dead')
          .map(([, k]) => k)
          .sort()
          .join(' ');
      };
      await until('a python engine, idle', async () => (await kinds()).includes('python') && liveIds(await engineStates(page)).length === 4 && !Object.values(await engineStates(page)).includes('starting'), 60_000);
      const was = await kinds();
      assert.equal(was, 'node node node python');
      const q = await confirmOn(page, () => page.getByRole('button', { name: 'Restart cluster' }).click(), true);
      assert.match(q, /It comes back with 3 node and 1 python engines\./);
      await until(
        'the same engines back, idle',
        async () => {
          const s = await engineStates(page);
          return Object.values(s).length === 4 && Object.values(s).every((x) => x === 'idle') && (await kinds()) === was;
        },
        60_000,
      );
      // The Events tab tells the restart as one ordinary event, with what asked for it.
      await page.locator('[data-testid=inspectors-panel] [role=tab][data-tab=events]').click();
      const stopped = page.locator('[data-testid=dashboard-events] [data-kind=stopped]');
      await stopped.first().waitFor({ timeout: 15_000 });
      assert.equal(await stopped.count(), 1);
      assert.match((await stopped.locator('.text').textContent()) ?? '', /^stopped the cluster of profile "[^"]+": its controller \(pid \d+\) and 4 engines$/);
      assert.equal(await stopped.locator('.cause').textContent(), 'Restart in the app');
      assert.notEqual(await stopped.getAttribute('data-tone'), 'bad');
      // The console comes back, connected to the new controller.
      const pid = ((await page.getByTestId('cluster-status').innerText()).match(/controller pid (\d+)/) ?? [])[1];
      assert.ok(pid, 'the bar names the new controller');
      await until(`the console's banner for controller pid ${pid}`, async () => (await terminalText(page)).includes(`controller pid ${pid}`), 30_000);
      // In between, the terminal said why its console stopped (xterm may wrap the line).
      assert.match((await terminalText(page)).replace(/\n/g, ''), /\[the cluster was stopped \(Restart in the app\)\. The console starts again with the next cluster\]/);
      await screenshot(page, `${prefix}15-restart-cluster`);
      await page.locator('[data-testid=inspectors-panel] [role=tab][data-tab=inspectors]').click();
    },
  },
  {
    name: 'a value pushed alike to node and Python engines is not "(differs)"; long floats are not cut off',
    async run({ page, prefix }) {
      await tab(page, 'Push');
      await page.getByLabel('Name to push').fill('same');
      await page.getByLabel('Value to push').fill('{"xs": [1, 2], "ok": true, "f": 0.30000000000000004}');
      await page.getByRole('button', { name: 'Push to all engines' }).click();
      await page.locator('.toast', { hasText: 'pushed same to all engines' }).waitFor();
      await tab(page, 'Namespace');
      const rowSame = page.locator('[data-testid=namespace-table] tr[data-name="same"]');
      await rowSame.waitFor({ timeout: 15_000 });
      const cells = await rowSame.locator('td').allInnerTexts();
      assert.doesNotMatch(cells[4], /differs/);
      assert.equal(cells[5], 'all');
      await tab(page, 'Push');
      await page.getByLabel('Name to push').fill('longf');
      await page.getByLabel('Value to push').fill('1234567.8901234567');
      await page.getByRole('button', { name: 'Push to all engines' }).click();
      await page.locator('.toast', { hasText: 'pushed longf' }).waitFor();
      await tab(page, 'Pull');
      await page.getByLabel('Name to pull').fill('longf');
      await page.getByRole('button', { name: 'Pull', exact: true }).click();
      await page.locator('[data-testid=pull-result][data-name="longf"]').waitFor();
      const clipped = await page.$$eval('[data-testid=pull-result] .col', (cols) =>
        cols.filter((c) => (c as unknown as { scrollWidth: number; clientWidth: number }).scrollWidth > (c as unknown as { clientWidth: number }).clientWidth + 1).length,
      );
      assert.equal(clipped, 0, 'no pull column cuts its value off');
      const headers = await page.$$eval('[data-testid=engines-panel] .head [role=columnheader]', (hs) =>
        hs.map((h) => {
          const el = h as unknown as { textContent: string; scrollWidth: number; clientWidth: number; getBoundingClientRect(): { left: number; right: number } };
          const r = el.getBoundingClientRect();
          return { text: el.textContent.trim(), clipped: el.scrollWidth > el.clientWidth, left: r.left, right: r.right };
        }),
      );
      const q = headers.find((h) => h.text === 'queue')!;
      const ct = headers.find((h) => h.text === 'current task')!;
      assert.ok(!q.clipped && !ct.clipped, 'the headers are not cut off');
      assert.ok(ct.left - q.right >= 6, `"queue" and "current task" are apart (${ct.left - q.right}px)`);
      await screenshot(page, `${prefix}16-pull-long-float`);
    },
  },
];

