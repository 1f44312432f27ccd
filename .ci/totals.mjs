#!/usr/bin/env node
// Totals of every test runner in a CI log. It names each skipped test on a line
// `skipped: <name> (<file>)`, then ends with one plain line `N passed, N failed, N skipped`.
//  - node's runner: `# pass N` / `# fail N` / `# cancelled N` / `# skipped N` / `# todo N` (TAP,
//    or `ℹ pass N` with the spec reporter); names from scripts/skippedReporter.mjs's
//    `# skipped: <name> (<file>)` lines.
//  - vitest: `Tests  2 failed | 40 passed | 1 skipped | 1 todo (44)`; names from the verbose
//    reporter's `↓ <file> > <suite> > <name>` (skipped) and `□ …` (todo) lines.
//  - Python's unittest -v: `Ran N tests`, then `OK (skipped=S)` or `FAILED (failures=F, errors=E, …)`;
//    names from `test_x (module.Class.test_x) ... skipped 'why'`.
// Todo tests count as skipped. A failing step outside the runners (build, lint) counts as one
// failure, so a broken build never reads as success.
// Usage: node .ci/totals.mjs <log> [exit code of the run]
import fs from 'node:fs';
import { pathToFileURL } from 'node:url';

const ANSI = new RegExp(String.fromCharCode(27) + '\\[[0-9;]*[A-Za-z]', 'g');

/** { passed, failed, skipped, names: [`<name> (<file>)`] } of the runners' output in `log`. */
export function totals(log) {
  let passed = 0;
  let failed = 0;
  let skipped = 0;
  const names = [];
  let pyTest = null;
  let pyRan = null;
  for (const line of log.replace(ANSI, '').split(/\r?\n/)) {
    let m;
    if ((m = /^(?:#|ℹ) (pass|fail|cancelled|skipped|todo) (\d+)\s*$/.exec(line))) {
      const n = Number(m[2]);
      if (m[1] === 'pass') passed += n;
      else if (m[1] === 'fail' || m[1] === 'cancelled') failed += n;
      else skipped += n;
    } else if ((m = /^# skipped: (.*)$/.exec(line))) {
      names.push(m[1]);
    } else if ((m = /^\s*Tests\s+(.*\(\d+\))\s*$/.exec(line))) {
      const count = (what) => Number(new RegExp(`(\\d+) ${what}`).exec(m[1])?.[1] ?? 0);
      passed += count('passed');
      failed += count('failed');
      skipped += count('skipped') + count('todo');
    } else if ((m = /^\s*([↓□])\s+(?:.*?\s)?(\S+\.(?:spec|test)\.[cm]?[jt]sx?) > (.+?)\s*$/.exec(line))) {
      names.push(`${m[3]} (${m[2]})${m[1] === '□' ? ' — todo' : ''}`);
    } else if ((m = /^(\w+) \(([\w.]+)\)/.exec(line))) {
      // unittest -v: `test_x (module.Class.test_x) ... result` (Python < 3.11: `(module.Class)`);
      // a docstring may put the result on the next line.
      const parts = m[2].split('.');
      if (parts.at(-1) === m[1]) parts.pop();
      const cls = parts.pop();
      pyTest = { name: `${cls}.${m[1]}`, file: `${parts.join('/')}.py` };
      pythonResult(line);
    } else if ((m = /^Ran (\d+) tests? in /.exec(line))) {
      pyRan = Number(m[1]);
    } else if (pyRan !== null && (m = /^(OK|FAILED)(?: \((.*)\))?\s*$/.exec(line))) {
      const field = (what) => Number(new RegExp(`${what}=(\\d+)`).exec(m[2] ?? '')?.[1] ?? 0);
      const bad = field('failures') + field('errors') + field('unexpected successes');
      const skip = field('skipped');
      passed += pyRan - bad - skip;
      failed += bad;
      skipped += skip;
      pyRan = null;
    } else {
      pythonResult(line);
    }
  }
  return { passed, failed, skipped, names };

  function pythonResult(line) {
    const s = / \.\.\. skipped (.*)$/.exec(line);
    if (s && pyTest) {
      names.push(`${pyTest.name} (${pyTest.file}) — ${s[1].replace(/^'(.*)'$/, '$1')}`);
      pyTest = null;
    }
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const [file, codeArg] = process.argv.slice(2);
  const t = totals(fs.readFileSync(file, 'utf8'));
  const code = Number(codeArg ?? 0);
  if (code !== 0 && t.failed === 0) {
    console.log(`(the run exited with code ${code} outside the test runners: counted as 1 failure)`);
    t.failed = 1;
  }
  for (const n of t.names) console.log(`skipped: ${n}`);
  console.log(`${t.passed} passed, ${t.failed} failed, ${t.skipped} skipped`);
}
