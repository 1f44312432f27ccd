/**
 * A client on another host (run with runNodeOn): connects through the client connection file
 * given as its argument, replays the portable seeds (IPython's multiengine tutorial) on four
 * engines, opens a direct connection to each engine, and prints one JSON line: where it ran,
 * each seed's outcome, and the engines it reached directly.
 */
import fs from 'node:fs';
import os from 'node:os';
import { Client } from 'multiengine';
import { eventually } from '../../../harness/poll.ts';
import { portableSeeds, type SeedView } from '../../seedScenarios.ts';

const file = process.argv[2];
if (!file) throw new Error('usage: seedClient.ts <client connection file>');
const rc = await Client.connect({ file, timeoutMs: 30_000 });
const seeds: { name: string; error?: string }[] = [];
try {
  for (const seed of portableSeeds) {
    try {
      await seed.run(rc.view() as unknown as SeedView);
      seeds.push({ name: `${seed.section}: ${seed.name}` });
    } catch (e) {
      seeds.push({ name: `${seed.section}: ${seed.name}`, error: (e as Error).stack ?? String(e) });
    }
  }
  // A direct link opens with the first single-engine request to its engine; the next ones use it.
  const pids: number[] = [];
  const allDirect = await eventually(async () => {
    for (const id of rc.ids) pids[id] = (await rc.view(id).applySync(() => process.pid)) as number;
    return rc.ids.every((id) => rc.directEngines.includes(id));
  }, 15_000);
  console.log(
    JSON.stringify({
      hostname: os.hostname(),
      netns: fs.readlinkSync('/proc/self/ns/net'),
      seeds,
      allDirect,
      directEngines: rc.directEngines,
      engines: rc.engines.map((e) => ({ id: e.id, host: e.host, pid: e.pid, direct: e.direct })),
      pids,
    }),
  );
} finally {
  rc.close();
}
