/**
 * Electron e2e: the same steps as web.test.ts against the real desktop window, through
 * Playwright's Electron support. Skipped (saying why) where the Electron binary is missing.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { _electron, type ElectronApplication } from 'playwright-core';
import { findElectron } from '../../main/electronBinary.js';
import { ROOT } from './helpers.js';
import { STEPS, type StepContext } from './scenarios.js';

const ENGINES = 4;
const electron = findElectron();
const entry = path.join(ROOT, 'dist', 'main', 'electron', 'main.js');
const skip = !electron.ok ? `Electron e2e skipped: ${electron.reason}` : !fs.existsSync(entry) ? 'Electron e2e skipped: the app is not built (npm run build)' : null;
if (skip) {
  console.log(`# ${skip}`);
  test('the desktop app passes the e2e steps through Playwright Electron', { skip }, () => {});
} else {
  describe('the desktop app (Electron)', electronSuite);
}

function electronSuite(): void {
  let app: ElectronApplication;
  let ctx: StepContext;
  let dir: string;

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'multiengine-electron-'));
    app = await _electron.launch({
      executablePath: electron.ok ? electron.path : undefined,
      args: [entry, '-n', String(ENGINES), '--engine', 'node', ...(process.platform === 'linux' ? ['--no-sandbox', '--disable-gpu'] : [])],
      env: { ...process.env, MULTIENGINE_DIR: dir, CI: 'true' } as Record<string, string>,
      cwd: ROOT,
    });
    const page = await app.firstWindow();
    await page.setViewportSize({ width: 1440, height: 900 });
    ctx = { page, prefix: 'electron-', engines: ENGINES };
  });

  after(async () => {
    await app?.close().catch(() => {});
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  for (const step of STEPS) {
    test(step.name, { timeout: 120_000 }, () => step.run(ctx));
  }
}
