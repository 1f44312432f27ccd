#!/usr/bin/env node
// The test runners of `npm test`, each run even when an earlier one failed, so the closing
// `N passed, N failed` line (.ci/totals.mjs) counts every runner; exits non-zero when any failed.
import { spawnSync } from 'node:child_process';

/** [command, args, ms it may take at most (none: no limit)]. */
export const RUNNERS = [
  ['node', ['scripts/test.mjs']], // node's test runner: test/**/*.test.ts
  ['npm', ['run', 'test:ui']], // vitest: the app's units and components
  ['npm', ['run', 'test:python']], // Python's unittest: the Python engine's own suite
  // Python's unittest: the Python client's suite, on real clusters (it needs the build npm test made first)
  ['npm', ['run', 'test:python-client'], 600_000],
];

if (import.meta.url === `file://${process.argv[1]}`) {
  let failed = 0;
  for (const [command, args, timeout] of RUNNERS) {
    const r = spawnSync(command, args, { stdio: 'inherit', timeout, killSignal: 'SIGKILL' });
    if (r.error?.code === 'ETIMEDOUT') console.error(`${command} ${args.join(' ')} did not finish within ${timeout / 1000} s and was stopped`);
    if (r.status !== 0) failed++;
  }
  process.exit(failed === 0 ? 0 : 1);
}
