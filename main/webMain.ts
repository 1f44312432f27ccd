/**
 * Web mode: `npm run web`, `multiengine app --web`. Starts the app's services (a local
 * cluster or an attached one, and the console under a pty), serves the renderer on
 * 127.0.0.1 with a random token in the URL, prints the URL and opens a browser when there is
 * one. Without --web, `multiengine app` opens the desktop window when Electron is installed.
 * Nothing here imports electron.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { packageRoot } from '../core/util/entry.js';
import type { AppSettings } from '../preload/contract.js';
import { createAppServices, defaultSettingsFile } from './app.js';
import { electronEntry, findElectron } from './electronBinary.js';
import { WebServer } from './web/webServer.js';
import { engineLanguage } from '../core/kernels/index.js';
import { goodbyeMessage, noWindowMessage, WEB_MODE_HINT } from './startMessages.js';


const USAGE = `usage: multiengine app [--web] [options]

  --web               serve the app to a browser on 127.0.0.1 instead of opening a window
  -n N                start N engines (default: the remembered choice, else one per CPU core)
  --engine node|python
  --profile P         the cluster's profile (default: app); its cluster.json, when it has one,
                      says how the cluster starts (launcher and all; -n and --engine win)
  --attach            attach to the running cluster of --profile instead of starting one
  --dir D             instead of $MULTIENGINE_DIR or ~/.multiengine
  --port N            web mode's port (default: a free one)
  --no-open           do not open a browser`;

export interface WebMainArgs {
  web: boolean;
  port: number;
  open: boolean;
  overrides: Partial<AppSettings>;
  dir?: string;
  heartbeatMs?: number;
  help: boolean;
}

const VALUE_FLAGS = new Set(['-n', '--engine', '--profile', '--dir', '--port', '--heartbeat-ms']);
const BOOLEAN_FLAGS = new Set(['--web', '--no-open', '--attach', '--help', '-h']);

/** Our options out of a command line that has others too (Electron's and Chromium's switches, the entry script). */
export function pickAppArgs(argv: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const name = a.includes('=') ? a.slice(0, a.indexOf('=')) : a;
    if (VALUE_FLAGS.has(name)) {
      if (a.includes('=')) out.push(a);
      else if (i + 1 < argv.length) out.push(a, argv[++i]);
    } else if (BOOLEAN_FLAGS.has(a)) {
      out.push(a);
    }
  }
  return out;
}

export function parseWebArgs(argv: string[]): WebMainArgs {
  const { values } = parseArgs({
    args: argv,
    options: {
      web: { type: 'boolean', default: false },
      port: { type: 'string' },
      'no-open': { type: 'boolean', default: false },
      n: { type: 'string', short: 'n' },
      engine: { type: 'string' },
      profile: { type: 'string' },
      attach: { type: 'boolean' },
      dir: { type: 'string' },
      'heartbeat-ms': { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  const overrides: Partial<AppSettings> = {};
  if (values.n !== undefined) {
    const n = Number(values.n);
    if (!Number.isSafeInteger(n) || n < 0 || n > 1024) throw new Error(`-n must be a whole number of engines, got ${JSON.stringify(values.n)}`);
    overrides.engineCount = n;
  }
  if (values.engine !== undefined) {
    overrides.engineKind = engineLanguage(values.engine, '--engine').name;
  }
  if (values.profile !== undefined) overrides.profile = values.profile;
  if (values.attach !== undefined) overrides.attach = values.attach;
  const port = values.port === undefined ? 0 : Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`--port must be a port number, got ${JSON.stringify(values.port)}`);
  const hb = values['heartbeat-ms'] === undefined ? undefined : Number(values['heartbeat-ms']);
  return { web: values.web, port, open: !values['no-open'], overrides, dir: values.dir, heartbeatMs: hb, help: values.help };
}

/** Whether a browser can be opened here: not in CI or tests, and (on Linux) with a display. */
export function canOpenBrowser(env: NodeJS.ProcessEnv = process.env, platform = process.platform): boolean {
  if (env.CI || env.NODE_TEST_CONTEXT || env.MULTIENGINE_NO_BROWSER) return false;
  if (platform === 'linux' || platform === 'freebsd' || platform === 'openbsd') return Boolean(env.DISPLAY || env.WAYLAND_DISPLAY);
  return true;
}

function openBrowser(url: string): void {
  const [cmd, args] = process.platform === 'darwin' ? ['open', [url]] : process.platform === 'win32' ? ['cmd', ['/c', 'start', '""', url]] : ['xdg-open', [url]];
  try {
    const child = spawn(cmd, args as string[], { stdio: 'ignore', detached: true });
    child.on('error', () => console.log(`(could not open a browser: open the URL above yourself)`));
    child.unref();
  } catch {
    /* no browser; the URL is printed */
  }
}

function rendererRoot(): string {
  return path.join(packageRoot, 'dist', 'renderer');
}

/** Runs the desktop app with the Electron binary, passing our arguments on. */
function runElectron(bin: string, argv: string[]): Promise<number> {
  return new Promise((resolve) => {
    const env = { ...process.env };
    delete env.ELECTRON_RUN_AS_NODE;
    const child = spawn(bin, [electronEntry(), ...argv], { stdio: 'inherit', env });
    const fwd = (sig: NodeJS.Signals) => () => child.kill(sig);
    process.on('SIGINT', fwd('SIGINT'));
    process.on('SIGTERM', fwd('SIGTERM'));
    child.on('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0)));
  });
}

export async function main(argv: string[]): Promise<number> {
  let args: WebMainArgs;
  try {
    args = parseWebArgs(argv);
  } catch (e) {
    console.error(`multiengine app: ${(e as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (args.help) {
    console.log(USAGE);
    return 0;
  }
  if (!args.web) {
    const electron = findElectron();
    if (electron.ok && fs.existsSync(electronEntry())) return runElectron(electron.path, argv);
    console.log(electron.ok ? 'No desktop window: the app is not built (npm run build).' : noWindowMessage(electron));
  }
  console.log(WEB_MODE_HINT);
  const root = rendererRoot();
  if (!fs.existsSync(path.join(root, 'index.html'))) {
    console.error(`multiengine app: the app's UI is not built (${root} is missing): run npm run build`);
    return 1;
  }
  const log = process.env.MULTIENGINE_DEBUG ? (line: string) => console.error(`[app] ${line}`) : () => {};
  const services = createAppServices({
    web: true,
    settingsFile: defaultSettingsFile(args.dir),
    overrides: args.overrides,
    dir: args.dir,
    heartbeatMs: args.heartbeatMs,
    log,
  });
  let server: WebServer;
  try {
    server = await WebServer.start({ root, router: services.router, events: services.events, port: args.port, log });
  } catch (e) {
    console.error(`multiengine app: cannot serve on 127.0.0.1:${args.port}: ${(e as Error).message}`);
    await services.dispose();
    return 1;
  }
  console.log(`multiengine web mode: ${server.url}`);
  if (args.open && canOpenBrowser()) openBrowser(server.url);

  let stopping: Promise<void> | null = null;
  const stop = () => {
    stopping ??= (async () => {
      // What was running, said after it stopped.
      const snap = services.cluster.connection.snapshot();
      const engines = services.cluster.table.engineRows().filter((e) => e.state !== 'dead').length;
      await server.close().catch(() => {});
      await services.dispose().catch(() => {});
      console.log(goodbyeMessage(snap, engines));
    })();
    return stopping;
  };
  const done = new Promise<void>((resolve) => {
    const onSignal = () => void stop().then(resolve);
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    process.once('SIGHUP', onSignal);
  });
  void services.start().then(() => {
    const s = services.cluster.connection.snapshot();
    if (s.status === 'error') console.error(`multiengine app: ${s.error}`);
  });
  await done;
  return 0;
}

const strip = (f: string) => path.resolve(f).replace(/\.[cm]?[jt]s$/, '');
const isEntry = Boolean(process.argv[1]) && strip(process.argv[1]) === strip(fileURLToPath(import.meta.url));
if (isEntry) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (e: unknown) => {
      console.error(`multiengine app: ${(e as Error)?.stack ?? String(e)}`);
      process.exit(1);
    },
  );
}
