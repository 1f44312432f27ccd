/**
 * Finds the Electron binary without importing electron (web mode must not): the electron
 * package writes the binary's path to path.txt once its download succeeded, and
 * ELECTRON_OVERRIDE_DIST_PATH points at a binary's folder instead (as in electron's own index.js).
 */
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { packageRoot } from '../core/util/entry.js';

/** On failure: what happened (one sentence) and how to get the desktop window. */
export type ElectronLookup = { ok: true; path: string } | { ok: false; reason: string; remedy: string[] };

/** The Electron version package.json pins (an optional dependency). */
export function pinnedElectron(root = packageRoot): string {
  const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as { optionalDependencies?: Record<string, string> };
  return pkg.optionalDependencies?.electron ?? 'latest';
}

export function findElectron(root = packageRoot, env: NodeJS.ProcessEnv = process.env): ElectronLookup {
  const version = pinnedElectron(root);
  const binName = process.platform === 'win32' ? 'electron.exe' : 'electron';
  // Inside Electron, `electron` is built in: a binary elsewhere needs no electron package.
  const override = env.ELECTRON_OVERRIDE_DIST_PATH;
  if (override) {
    const bin = path.join(override, binName);
    if (fs.existsSync(bin)) return { ok: true, path: bin };
    return { ok: false, reason: `ELECTRON_OVERRIDE_DIST_PATH is set, but there is no ${bin}`, remedy: ['point ELECTRON_OVERRIDE_DIST_PATH at the folder holding the electron binary, or unset it'] };
  }
  const atHand = `with an Electron ${version} binary at hand: ELECTRON_OVERRIDE_DIST_PATH=<the folder holding it> npm start`;
  let pkgJson: string;
  try {
    pkgJson = createRequire(path.join(root, 'package.json')).resolve('electron/package.json');
  } catch {
    return {
      ok: false,
      reason: 'npm skipped the optional electron package: its install step downloads the Electron binary, and that download failed (no access to github.com?)',
      remedy: [`on a machine with internet access: npm install (it tries electron@${version} again)`, 'behind a mirror: ELECTRON_MIRROR=<mirror URL> npm install', atHand],
    };
  }
  const dir = path.dirname(pkgJson);
  const install = path.relative(root, path.join(dir, 'install.js'));
  const download = [`on a machine with internet access: node ${install} (downloads Electron ${version})`, `behind a mirror: ELECTRON_MIRROR=<mirror URL> node ${install}`, atHand];
  let rel: string;
  try {
    rel = fs.readFileSync(path.join(dir, 'path.txt'), 'utf8').trim();
  } catch {
    return { ok: false, reason: 'the electron package is installed without its binary (ELECTRON_SKIP_BINARY_DOWNLOAD was set, npm did not run its install script, or the download failed)', remedy: download };
  }
  const bin = path.join(dir, 'dist', rel);
  if (!fs.existsSync(bin)) return { ok: false, reason: `the Electron binary is missing (${bin})`, remedy: download };
  return { ok: true, path: bin };
}

/** The Electron entry of the app, built by `npm run build:app`. */
export function electronEntry(): string {
  return path.join(packageRoot, 'dist', 'main', 'electron', 'main.js');
}
