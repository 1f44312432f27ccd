#!/usr/bin/env node
// Runs @doyensec/electronegativity over the Electron app (main/, preload/, renderer/) and fails
// on any finding of high or medium severity. Exclusions, each justified:
//  - AVAILABLE_SECURITY_FIXES_GLOBAL_CHECK: downloads Electron's release list from GitHub, which
//    CI cannot reach; electron is pinned in package.json and upgraded deliberately.
//  - OPEN_EXTERNAL_JS_CHECK: both shell.openExternal calls (main/electron/main.ts) pass only URLs
//    that isSafeExternalUrl / windowOpenDecision accept (http and https), unit-tested in
//    test/unit/app.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const EXCLUDED = ['AvailableSecurityFixesGlobalCheck', 'OpenExternalJSCheck'];
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'electronegativity-'));
try {
  // Scan a copy of the app's sources and package.json only (not node_modules or dist).
  for (const p of ['main', 'preload', 'renderer', 'package.json']) fs.cpSync(p, path.join(work, 'app', p), { recursive: true, filter: (src) => !src.includes('node_modules') });
  const pkg = JSON.parse(fs.readFileSync('package.json', 'utf8'));
  const electron = (pkg.optionalDependencies?.electron ?? pkg.devDependencies?.electron ?? '41.7.1').replace(/^[^\d]*/, '');
  const out = path.join(work, 'findings.csv');
  const bin = path.resolve('node_modules/.bin/electronegativity');
  const r = spawnSync(bin, ['-i', path.join(work, 'app'), '-e', electron, '-r', '-x', EXCLUDED.join(','), '-o', out], { encoding: 'utf8' });
  if (!fs.existsSync(out)) {
    console.error(`electronegativity produced no report (exit ${r.status}):\n${r.stdout}\n${r.stderr}`);
    process.exit(1);
  }
  const text = fs.readFileSync(out, 'utf8');
  // One finding per line starting with CHECK_ID,"SEVERITY"; descriptions may span lines.
  const findings = [...text.matchAll(/^([A-Z_]+),"(HIGH|MEDIUM|LOW|INFORMATIONAL)","(\w+)","([^"]*)","([^"]*)"/gm)].map((m) => ({ id: m[1], severity: m[2], confidence: m[3], file: m[4], at: m[5] }));
  const serious = findings.filter((f) => f.severity === 'HIGH' || f.severity === 'MEDIUM');
  for (const f of findings) console.log(`${f.severity.padEnd(13)} ${f.id} ${f.file}:${f.at} (${f.confidence})`);
  console.log(`electronegativity: ${findings.length} findings, ${serious.length} of high or medium severity`);
  process.exit(serious.length ? 1 : 0);
} finally {
  fs.rmSync(work, { recursive: true, force: true });
}
