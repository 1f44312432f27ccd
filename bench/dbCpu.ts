/**
 * What the task database costs per direct request, in CPU time by process and thread (wall
 * time is too noisy on a shared machine to show a few µs):
 *   node --import tsx bench/dbCpu.ts [--rounds 3] [--reps 40000] [--kind node|python] [--scenario async|rtt] [--dbs sqlite,none] [--json out.jsonl]
 * Runs bench/profile.ts with each `--db` setting of --dbs (default sqlite and none) in turn, a fresh cluster each,
 * and prints the median µs of CPU per request of each thread group (profile.ts: client, the
 * controller's loop, its database worker and helpers, the engine's loop and helpers), how often
 * the database worker woke per second, and the load average next to them.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: { rounds: { type: 'string', default: '3' }, reps: { type: 'string', default: '40000' }, kind: { type: 'string', default: 'node' }, scenario: { type: 'string', default: 'async' }, dbs: { type: 'string', default: 'sqlite,none' }, json: { type: 'string' } },
});
const DBS = values.dbs!.split(',');
for (const db of DBS) if (!['sqlite', 'memory', 'none'].includes(db)) throw new Error(`--dbs takes sqlite, memory and none, comma-separated; got ${JSON.stringify(db)}`);
const out = values.json ?? path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'multiengine-dbcpu-')), 'runs.jsonl');
const here = path.dirname(new URL(import.meta.url).pathname);
type Run = { db: string; perOpUs: number; load: number; threads: Record<string, Record<string, number>>; controllerWakeups?: Record<string, number> };

for (let r = 0; r < Number(values.rounds); r++) {
  // Alternating, so a change in the machine's load falls on every setting alike.
  for (const db of r % 2 === 0 ? DBS : [...DBS].reverse()) {
    const res = spawnSync(process.execPath, ['--import', 'tsx', path.join(here, 'profile.ts'), values.scenario!, '--kind', values.kind!, '--reps', values.reps!, '--db', db], { env: { ...process.env, PROF_JSON: out }, stdio: ['ignore', 'ignore', 'inherit'] });
    if (res.status !== 0) throw new Error(`bench/profile.ts --db ${db} failed (${res.status ?? res.signal})`);
  }
}

const runs = fs.readFileSync(out, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Run);
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const cols = ['client.main', 'controller.main', 'controller.db', 'controller.helpers', 'engine0.main', 'engine0.helpers'];
console.log(`${values.kind} ${values.scenario}, ${values.rounds} rounds of ${values.reps}; median µs of CPU per request (runs: ${out})`);
console.log(['db', 'wall µs/op', ...cols, 'all threads', 'db wake-ups/s', 'load'].join('\t'));
for (const db of DBS) {
  const mine = runs.filter((x) => x.db === db);
  const cell = (c: string) => {
    const [proc, group] = c.split('.');
    return median(mine.map((x) => x.threads[proc]?.[group] ?? 0)).toFixed(1);
  };
  const total = median(mine.map((x) => Object.values(x.threads).reduce((a, g) => a + Object.values(g).reduce((b, v) => b + v, 0), 0))).toFixed(1);
  console.log([db, median(mine.map((x) => x.perOpUs)).toFixed(1), ...cols.map(cell), total, median(mine.map((x) => x.controllerWakeups?.db ?? 0)).toFixed(0), mine.map((x) => x.load.toFixed(1)).join('/')].join('\t'));
}
