/**
 * e2e plumbing: web mode as its own process with a private MULTIENGINE_DIR and a real
 * cluster, and headless Debian Chromium driven by playwright-core.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
export { isAlive } from '../../core/util/processes.ts';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const OUTPUT = path.join(ROOT, 'test', 'e2e', 'output');
export const CHROMIUM = process.env.MULTIENGINE_CHROMIUM ?? '/usr/bin/chromium';
export const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];

/** Why the browser tests cannot run here, or null when they can. */
export function browserMissing(): string | null {
  if (!fs.existsSync(CHROMIUM)) return `${CHROMIUM} is not installed (apt-get install chromium; .ci/run does it)`;
  if (!fs.existsSync(path.join(ROOT, 'dist', 'renderer', 'index.html'))) return 'the renderer is not built (npm run build)';
  return null;
}

export interface WebMode {
  url: string;
  dir: string;
  proc: ChildProcess;
  log: string[];
  stop(): Promise<void>;
}

/** Starts `multiengine app --web` (dist build when there is one, else the source under tsx); `env` adds to its environment. */
export async function startWebMode(args: string[], timeoutMs = 60_000, env: Record<string, string> = {}): Promise<WebMode> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'multiengine-e2e-'));
  const built = path.join(ROOT, 'dist', 'main', 'webMain.js');
  const cmd = fs.existsSync(built) ? [built] : ['--import', 'tsx', path.join(ROOT, 'main', 'webMain.ts')];
  const proc = spawn(process.execPath, [...cmd, '--web', '--no-open', ...args], {
    cwd: ROOT,
    env: { ...process.env, MULTIENGINE_DIR: dir, CI: 'true', NO_COLOR: '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const log: string[] = [];
  proc.stderr!.setEncoding('utf8');
  proc.stderr!.on('data', (t: string) => log.push(t));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`web mode printed no URL within ${timeoutMs} ms:\n${log.join('')}`)), timeoutMs);
    const rl = readline.createInterface({ input: proc.stdout! });
    rl.on('line', (line) => {
      log.push(`${line}\n`);
      const m = /(http:\/\/127\.0\.0\.1:\d+\/\?token=\S+)/.exec(line);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    proc.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`web mode exited with ${code}:\n${log.join('')}`));
    });
  });
  let stopped: Promise<void> | null = null;
  return {
    url,
    dir,
    proc,
    log,
    stop() {
      stopped ??= new Promise<void>((resolve) => {
        if (proc.exitCode !== null || proc.signalCode !== null) return resolve();
        const kill = setTimeout(() => proc.kill('SIGKILL'), 20_000);
        proc.once('exit', () => {
          clearTimeout(kill);
          resolve();
        });
        proc.kill('SIGTERM');
      }).then(() => fs.rmSync(dir, { recursive: true, force: true }));
      return stopped;
    },
  };
}

export interface Browser {
  context: BrowserContext;
  page: Page;
  errors: string[];
  close(): Promise<void>;
}

export async function launchBrowser(): Promise<Browser> {
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'multiengine-chromium-'));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: { width: 1440, height: 900 },
  });
  const page = context.pages()[0] ?? (await context.newPage());
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  return {
    context,
    page,
    errors,
    async close() {
      await context.close().catch(() => {});
      fs.rmSync(userDataDir, { recursive: true, force: true });
    },
  };
}

export async function screenshot(page: Page, name: string): Promise<string> {
  fs.mkdirSync(OUTPUT, { recursive: true });
  const file = path.join(OUTPUT, `${name}.png`);
  await page.screenshot({ path: file });
  return file;
}

/** Polls `fn` until it returns a truthy value; fails with `what` and the last value after `timeoutMs`. */
export async function until<T>(what: string, fn: () => Promise<T | null | undefined | false> | T | null | undefined | false, timeoutMs = 20_000, everyMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T | null | undefined | false;
  let lastError: unknown;
  for (;;) {
    try {
      last = await fn();
      if (last) return last;
    } catch (e) {
      lastError = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what} (last: ${JSON.stringify(last)}${lastError ? `, ${(lastError as Error).message}` : ''})`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

