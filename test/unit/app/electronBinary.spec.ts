// Finding the Electron binary in each state an install can leave it in, and what npm start
// says when there is none. Each case is a real folder laid out as npm leaves it.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { findElectron, pinnedElectron } from '../../../main/electronBinary.js';
import { goodbyeMessage, noWindowMessage, WEB_MODE_HINT } from '../../../main/startMessages.js';

const roots: string[] = [];
afterEach(() => {
  for (const r of roots.splice(0)) fs.rmSync(r, { recursive: true, force: true });
});

/** A package root with electron@41.7.1 optional and, as asked, the electron package and its binary. */
function install(opts: { pkg?: boolean; pathTxt?: boolean; binary?: boolean } = {}): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'multiengine-electron-'));
  roots.push(root);
  fs.writeFileSync(path.join(root, 'package.json'), JSON.stringify({ name: 'x', optionalDependencies: { electron: '41.7.1' } }));
  const dir = path.join(root, 'node_modules', 'electron');
  if (opts.pkg) {
    fs.mkdirSync(path.join(dir, 'dist'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: 'electron', version: '41.7.1' }));
  }
  if (opts.pathTxt) fs.writeFileSync(path.join(dir, 'path.txt'), 'electron');
  if (opts.binary) fs.writeFileSync(path.join(dir, 'dist', 'electron'), '#!/bin/sh\n', { mode: 0o755 });
  return root;
}

describe('findElectron', () => {
  it('reads the pinned version from package.json', () => {
    expect(pinnedElectron(install())).toBe('41.7.1');
  });

  it('without the electron package: npm skipped it because the binary download failed; npm install again, a mirror, or a local binary', () => {
    const r = findElectron(install(), {});
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.reason).toMatch(/npm skipped the optional electron package.*download failed/);
    expect(r.remedy.join('\n')).toMatch(/internet access: npm install \(it tries electron@41\.7\.1 again\)/);
    expect(r.remedy.join('\n')).toMatch(/ELECTRON_MIRROR=<mirror URL> npm install/);
    expect(r.remedy.join('\n')).toMatch(/binary at hand: ELECTRON_OVERRIDE_DIST_PATH=<the folder holding it> npm start/);
  });

  it('with the package but no binary: run its install script where there is internet', () => {
    const r = findElectron(install({ pkg: true }), {});
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.reason).toMatch(/installed without its binary/);
    expect(r.remedy[0]).toBe(`on a machine with internet access: node ${path.join('node_modules', 'electron', 'install.js')} (downloads Electron 41.7.1)`);
  });

  it('with path.txt but the binary gone: says which file is missing', () => {
    const root = install({ pkg: true, pathTxt: true });
    const r = findElectron(root, {});
    expect(r).toMatchObject({ ok: false, reason: `the Electron binary is missing (${path.join(fs.realpathSync(root), 'node_modules', 'electron', 'dist', 'electron')})` });
  });

  it('finds a downloaded binary', () => {
    const root = install({ pkg: true, pathTxt: true, binary: true });
    expect(findElectron(root, {})).toEqual({ ok: true, path: path.join(fs.realpathSync(root), 'node_modules', 'electron', 'dist', 'electron') });
  });

  it('ELECTRON_OVERRIDE_DIST_PATH points at a binary elsewhere (no electron package needed), and a wrong one is named', () => {
    const root = install();
    const elsewhere = fs.mkdtempSync(path.join(os.tmpdir(), 'multiengine-electron-dist-'));
    roots.push(elsewhere);
    fs.writeFileSync(path.join(elsewhere, 'electron'), '#!/bin/sh\n', { mode: 0o755 });
    expect(findElectron(root, { ELECTRON_OVERRIDE_DIST_PATH: elsewhere })).toEqual({ ok: true, path: path.join(elsewhere, 'electron') });
    const wrong = findElectron(root, { ELECTRON_OVERRIDE_DIST_PATH: path.join(elsewhere, 'nope') });
    expect(wrong).toMatchObject({ ok: false, reason: `ELECTRON_OVERRIDE_DIST_PATH is set, but there is no ${path.join(elsewhere, 'nope', 'electron')}` });
  });
});

describe('start messages', () => {
  it('no window: what happened and how to get the window; web mode: where to look and how to stop', () => {
    const r = findElectron(install(), {});
    if (r.ok) throw new Error('expected no Electron');
    const text = noWindowMessage(r);
    expect(text.split('\n')[0]).toBe(`No desktop window: ${r.reason}.`);
    for (const line of r.remedy) expect(text).toContain(`  - ${line}`);
    expect(text.split('\n')).toHaveLength(2 + r.remedy.length);
    expect(WEB_MODE_HINT).toBe('The app runs in web mode: open the URL below in your browser. Ctrl-C stops the cluster.');
  });

  it('goodbye names what was stopped, and what keeps running', () => {
    expect(goodbyeMessage({ status: 'running', mode: 'local', profile: 'app', controllerPid: 4242 }, 4)).toBe('Stopped the web server and cluster "app": its controller (pid 4242) and 4 engines. Goodbye.');
    expect(goodbyeMessage({ status: 'running', mode: 'local', profile: 'app', controllerPid: 4242 }, 1, 'the window')).toBe('Stopped the window and cluster "app": its controller (pid 4242) and 1 engine. Goodbye.');
    expect(goodbyeMessage({ status: 'running', mode: 'attached', profile: 'lab', controllerPid: 7 }, 2)).toBe('Stopped the web server; cluster "lab" keeps running (the app attached to it; multiengine stop --profile lab stops it). Goodbye.');
    expect(goodbyeMessage({ status: 'running', mode: 'local', profile: 'app', controllerPid: null }, 0)).toBe('Stopped the web server (no cluster was running). Goodbye.');
    expect(goodbyeMessage({ status: 'stopped', mode: 'attached', profile: 'lab', controllerPid: null }, 0)).toBe('Stopped the web server (no cluster was running). Goodbye.');
  });
});
