#!/usr/bin/env node
// Totals of every test runner in a CI log, as one plain last line: `N passed, N failed`.
// Node's runner ends with `# pass N` / `# fail N` (TAP) or `ℹ pass N` (spec); vitest with
// `Tests  2 failed | 40 passed (42)`. A failing step outside the runners (build, lint)
// counts as one failure, so a broken build never reads as success.
// Usage: node .ci/totals.mjs <log> [exit code of the run]
import fs from 'node:fs';

const [file, codeArg] = process.argv.slice(2);
const text = fs.readFileSync(file, 'utf8').replace(new RegExp(String.fromCharCode(27) + '\\[[0-9;]*[A-Za-z]', 'g'), '');
let passed = 0;
let failed = 0;
const runs = [];
for (const line of text.split(/\r?\n/)) {
  const node = /^(?:#|ℹ) (pass|fail|cancelled) (\d+)\s*$/.exec(line);
  if (node) {
    const n = Number(node[2]);
    if (node[1] === 'pass') passed += n;
    else failed += n;
    if (node[1] === 'pass') runs.push(`node: ${n} passed`);
    continue;
  }
  const vitest = /^\s*Tests\s+(.*\(\d+\))\s*$/.exec(line);
  if (vitest) {
    const p = Number(/(\d+) passed/.exec(vitest[1])?.[1] ?? 0);
    const f = Number(/(\d+) failed/.exec(vitest[1])?.[1] ?? 0);
    passed += p;
    failed += f;
    runs.push(`vitest: ${p} passed, ${f} failed`);
  }
}
const code = Number(codeArg ?? 0);
if (code !== 0 && failed === 0) {
  console.log(`(the run exited with code ${code} outside the test runners: counted as 1 failure)`);
  failed = 1;
}
console.log(`${passed} passed, ${failed} failed`);
