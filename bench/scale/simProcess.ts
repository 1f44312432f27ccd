/**
 * Simulated engines in a process of their own, so that their beats and replies do not share the
 * bench client's event loop (the controller has its own process anyway):
 *   node --import tsx bench/scale/simProcess.ts ENGINE_FILE [SERVICE_MS]
 * Commands on stdin, one JSON line each; answers on stdout, one JSON line each:
 *   {"cmd":"add","n":N}   registers N more engines  → {"event":"added","ids":[…],"ms":…}
 *   {"cmd":"kill","n":K}  closes K engines' sockets → {"event":"killed","ids":[…]}
 * It exits when stdin closes, closing every engine's sockets.
 */
import readline from 'node:readline';
import { readConnectionFile } from '../../core/connection/connectionFile.ts';
import { SimEngines } from '../../test/harness/simEngines.ts';

const [file, service] = process.argv.slice(2);
if (!file) {
  console.error('usage: simProcess.ts ENGINE_FILE [SERVICE_MS]');
  process.exit(2);
}
const info = readConnectionFile(file);
const sims = await SimEngines.start(info, 0, { serviceMs: Number(service ?? 0) });
const say = (o: object) => process.stdout.write(JSON.stringify(o) + '\n');

for await (const line of readline.createInterface({ input: process.stdin })) {
  const c = JSON.parse(line) as { cmd: string; n: number };
  if (c.cmd === 'add') {
    const t = performance.now();
    const added = await sims.add(info, c.n);
    say({ event: 'added', ids: added.map((e) => e.id), ms: performance.now() - t });
  } else if (c.cmd === 'kill') {
    const victims = sims.engines.filter((e) => !e.dead).slice(-c.n);
    for (const e of victims) e.die('close');
    say({ event: 'killed', ids: victims.map((e) => e.id) });
  } else {
    say({ event: 'error', message: `unknown command ${JSON.stringify(c.cmd)}` });
  }
}
sims.stop();
process.exit(0);
