/**
 * Node engine entry point:
 *   node dist/engines/node/main.js --file <engine.json> [--id N] [--reconnect-ms MS]
 *   node dist/engines/node/main.js --connection-stdin --id N --engine-set S     (ssh launcher)
 *   MULTIENGINE_CONNECTION=<json> mpiexec -n 4 node .../main.js --id-base B --engine-set S
 * (or `node --import tsx engines/node/main.ts ...` from source). Without --file or
 * --connection-stdin the connection information comes from MULTIENGINE_CONNECTION, so the key is
 * never on a command line (core/connection/engineStart.ts).
 */
import { parseConnectionInfo, readConnectionFile, type ConnectionInfo } from '../../core/connection/connectionFile.js';
import { CONNECTION_ENV, rankFromEnv } from '../../core/connection/engineStart.js';
import { Engine } from './engine.js';

const USAGE = `usage: main.js (--file <engine connection file> | --connection-stdin | with ${CONNECTION_ENV} set) [--id N | --id-base B] [--engine-set S] [--reconnect-ms MS]`;

// The controller that launched us may be gone (killed, then restarted): a write to its pipes must not kill us.
process.stdout.on('error', () => {});
process.stderr.on('error', () => {});

interface Args {
  file?: string;
  stdin: boolean;
  id?: number;
  idBase?: number;
  engineSet?: string;
  reconnectMs?: number;
}

function parseArgs(argv: string[]): Args {
  const out: Args = { stdin: false };
  const whole = (flag: string, v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0) throw new Error(`${flag} must be a non-negative integer, got ${JSON.stringify(v)}`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i].split(/=(.*)/s, 2);
    const value = (): string => {
      const v = inline ?? argv[++i];
      if (v === undefined) throw new Error(`${flag} needs a value\n${USAGE}`);
      return v;
    };
    if (flag === '--file' || flag === '-f') out.file = value();
    else if (flag === '--connection-stdin') out.stdin = true;
    else if (flag === '--id') out.id = whole(flag, value());
    else if (flag === '--id-base') out.idBase = whole(flag, value());
    else if (flag === '--engine-set') out.engineSet = value();
    else if (flag === '--reconnect-ms') out.reconnectMs = whole(flag, value());
    else if (flag === '--help' || flag === '-h') {
      process.stdout.write(`${USAGE}\n`);
      process.exit(0);
    } else throw new Error(`unknown argument ${JSON.stringify(argv[i])}\n${USAGE}`);
  }
  if (out.id !== undefined && out.idBase !== undefined) throw new Error(`give --id or --id-base, not both\n${USAGE}`);
  if (out.file === undefined && !out.stdin && !process.env[CONNECTION_ENV]) throw new Error(`--file, --connection-stdin or ${CONNECTION_ENV} is required\n${USAGE}`);
  return out;
}

/** The first line of stdin (the launcher writes the connection information there and keeps stdin open). */
function firstStdinLine(): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    const onData = (chunk: Buffer) => {
      text += chunk.toString('utf8');
      const nl = text.indexOf('\n');
      if (nl < 0) return;
      process.stdin.off('data', onData);
      process.stdin.pause();
      resolve(text.slice(0, nl));
    };
    process.stdin.on('data', onData);
    process.stdin.once('end', () => reject(new Error('stdin closed before the connection information arrived')));
  });
}

async function connectionInfo(args: Args): Promise<ConnectionInfo> {
  if (args.file !== undefined) return readConnectionFile(args.file, { allowInsecure: true });
  if (args.stdin) {
    const info = parseConnectionInfo(await firstStdinLine(), 'the connection information on stdin');
    // The launcher (ssh) holds our stdin: when it goes away, so do we, leaving nothing behind on this host.
    process.stdin.once('end', () => {
      process.stderr.write('multiengine engine: stdin closed (the launcher went away); exiting\n');
      process.exit(0);
    });
    process.stdin.resume();
    return info;
  }
  return parseConnectionInfo(process.env[CONNECTION_ENV]!, `$${CONNECTION_ENV}`);
}

try {
  const args = parseArgs(process.argv.slice(2));
  const info = await connectionInfo(args);
  // The key stays out of the environment of user code and of anything it starts.
  delete process.env[CONNECTION_ENV];
  const requestedId = args.idBase !== undefined ? args.idBase + rankFromEnv() : args.id;
  await new Engine(info, { requestedId, reconnectMs: args.reconnectMs, engineSet: args.engineSet }).start();
} catch (e) {
  process.stderr.write(`multiengine engine: ${(e as Error).message}\n`);
  process.exit(1);
}
