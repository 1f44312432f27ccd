/**
 * Finds the Electron binary without importing electron (web mode must not): the electron
 * package writes the binary's path to path.txt once its download succeeded.
 */
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { packageRoot } from '../core/util/entry.js';

export type ElectronLookup = { ok: true; path: string } | { ok: false; reason: string };

export function findElectron(): ElectronLookup {
  let pkgJson: string;
  try {
    pkgJson = createRequire(path.join(packageRoot, 'package.json')).resolve('electron/package.json');
  } catch {
    return { ok: false, reason: 'the electron package is not installed' };
  }
  const dir = path.dirname(pkgJson);
  let rel: string;
  try {
    rel = fs.readFileSync(path.join(dir, 'path.txt'), 'utf8').trim();
  } catch {
    return { ok: false, reason: 'the Electron binary was not downloaded (the electron package installed without it)' };
  }
  const bin = path.join(dir, 'dist', rel);
  if (!fs.existsSync(bin)) return { ok: false, reason: `the Electron binary is missing (${bin})` };
  return { ok: true, path: bin };
}

/** The Electron entry of the app, built by `npm run build:app`. */
export function electronEntry(): string {
  return path.join(packageRoot, 'dist', 'main', 'electron', 'main.js');
}
