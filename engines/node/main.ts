/**
 * Node engine entry point:
 *   node dist/engines/node/main.js --file <engine.json> [--id N]
 * (or `node --import tsx engines/node/main.ts ...` from source).
 */
import { readConnectionFile } from '../../core/connection/connectionFile.js';
import { Engine } from './engine.js';

const USAGE = 'usage: main.js --file <engine connection file> [--id N] [--reconnect-ms MS]';

// The controller that launched us may be gone (killed, then restarted): a write to its pipes must not kill us.
process.stdout.on('error', () => {});
process.stderr.on('error', () => {});

function parseArgs(argv: string[]): { file: string; id?: number; reconnectMs?: number } {
  let file: string | undefined;
  let id: number | undefined;
  let reconnectMs: number | undefined;
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i].split(/=(.*)/s, 2);
    const value = (): string => {
      const v = inline ?? argv[++i];
      if (v === undefined) throw new Error(`${flag} needs a value\n${USAGE}`);
      return v;
    };
    if (flag === '--file' || flag === '-f') file = value();
    else if (flag === '--id') {
      const v = value();
      id = Number(v);
      if (!Number.isInteger(id) || id < 0) throw new Error(`--id must be a non-negative integer, got ${JSON.stringify(v)}`);
    } else if (flag === '--reconnect-ms') {
      const v = value();
      reconnectMs = Number(v);
      if (!Number.isInteger(reconnectMs) || reconnectMs < 0) throw new Error(`--reconnect-ms must be a non-negative integer, got ${JSON.stringify(v)}`);
    } else if (flag === '--help' || flag === '-h') {
      process.stdout.write(`${USAGE}\n`);
      process.exit(0);
    } else throw new Error(`unknown argument ${JSON.stringify(argv[i])}\n${USAGE}`);
  }
  if (file === undefined) throw new Error(`--file is required\n${USAGE}`);
  return { file, id, reconnectMs };
}

try {
  const args = parseArgs(process.argv.slice(2));
  const info = readConnectionFile(args.file, { allowInsecure: true });
  await new Engine(info, { requestedId: args.id, reconnectMs: args.reconnectMs }).start();
} catch (e) {
  process.stderr.write(`multiengine engine: ${(e as Error).message}\n`);
  process.exit(1);
}
