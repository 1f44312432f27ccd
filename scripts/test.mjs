#!/usr/bin/env node
// Runs node's test runner over test/**/*.test.ts (Node 20's --test takes no globs).
// Usage: node scripts/test.mjs [folder-or-file ...]   (default: test/)
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

function collect(p, out) {
  const st = fs.statSync(p);
  if (st.isFile()) {
    if (p.endsWith('.test.ts')) out.push(p);
    return out;
  }
  for (const name of fs.readdirSync(p).sort()) {
    if (name === 'node_modules' || name.startsWith('.')) continue;
    collect(path.join(p, name), out);
  }
  return out;
}

const roots = process.argv.slice(2).filter((a) => !a.startsWith('--'));
const flags = process.argv.slice(2).filter((a) => a.startsWith('--'));
const files = (roots.length ? roots : ['test']).flatMap((r) => collect(r, []));
if (files.length === 0) {
  console.error('no test files found');
  process.exit(1);
}
// Node's usual reporter (spec on a terminal, TAP otherwise), plus one that names skipped tests.
const reporters = flags.some((f) => f.startsWith('--test-reporter'))
  ? []
  : ['--test-reporter', process.stdout.isTTY ? 'spec' : 'tap', '--test-reporter-destination=stdout', '--test-reporter', fileURLToPath(new URL('skippedReporter.mjs', import.meta.url)), '--test-reporter-destination=stdout'];
// A test that hangs fails after 15 minutes (the longest suite takes ~3) instead of holding CI until its limit.
const timeout = flags.some((f) => f.startsWith('--test-timeout')) ? [] : ['--test-timeout=900000'];
const r = spawnSync(process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=1', ...timeout, ...reporters, ...flags, ...files], { stdio: 'inherit' });
process.exit(r.status ?? 1);
