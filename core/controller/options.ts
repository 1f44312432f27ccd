/** Command-line flags of the controller (docs/protocol.md section 1, "Processes"). */
import { SCHEMES, type Scheme } from '../protocol/messages.js';
import { DEFAULT_MAX_MESSAGE_BYTES } from '../transport/frame.js';

/** Where the controller keeps task records (--db). */
export const DB_BACKENDS = ['sqlite', 'memory', 'none'] as const;
export type DbBackend = (typeof DB_BACKENDS)[number];

export interface ControllerOptions {
  /** The interface to listen on (127.0.0.1 by default; 0.0.0.0 for all). */
  ip: string;
  /** The address written into connection files, when engines and clients must reach the controller by another name than --ip. */
  location?: string;
  /** 0 = a free port. */
  port: number;
  profile: string;
  /** Overrides $MULTIENGINE_DIR. */
  dir?: string;
  heartbeatMs: number;
  deadAfterMs: number;
  maxMessageBytes: number;
  /** Python interpreter for python engines when the request names none. */
  python?: string;
  /** Shut down when the parent process goes away (stdin closes or we are re-parented). */
  exitWithParent: boolean;
  /** 'always': a local engine that dies is replaced by a new one with the same id (bounded by maxRestarts per restartWindowMs). */
  restart: 'always' | 'never';
  maxRestarts: number;
  restartWindowMs: number;
  /** Take the key (and, without --port, the port) from the profile's existing connection file: a restarted controller. */
  reuseKey: boolean;
  /** Engines and clients that lose their connection try to come back for this long (told in registration/connect replies). */
  reconnectMs: number;
  /** Output (stream text, in characters) allowed per request and engine; the rest is dropped after a marker. */
  maxOutputBytes: number;
  /** Caps of the store of results whose client went away. */
  resultStoreBytes: number;
  resultStoreEntries: number;
  /** How the scheduler picks an engine for a load-balanced task. */
  scheme: Scheme;
  /** Load-balanced tasks outstanding per engine at most (0: no limit). */
  hwm: number;
  /** Where task records go: an SQLite file in the profile folder (default), a bounded store in memory, or nowhere. */
  db: DbBackend;
  /** The task database's caps: records, and bytes of records and stored values; the oldest go first. */
  dbMaxRows: number;
  dbMaxBytes: number;
}

/**
 * 4, from `npm run bench -- --scenarios lb --lb-hwm …` (docs/benchmarks.md, "Load-balanced view"):
 * with 4 engines, trivial tasks ran 1.5–1.7× faster than with 2 and 2.2–3.1× faster than with 1
 * (an engine's next tasks are already queued, and it gets them several per read), and a map of
 * uneven 1–60 ms tasks finished no later. 8 costs less CPU per task still, but a task queued on an
 * engine stays there, so at the end of a map of long, uneven tasks up to hwm − 1 tasks may wait
 * behind the longest while other engines idle, and a direct request waits behind up to hwm
 * balanced tasks. 0 (no limit) hands a map's tasks out at once: they no longer balance.
 * ipyparallel's default is 1.
 */
export const DEFAULT_HWM = 4;

export const DEFAULT_OPTIONS: ControllerOptions = {
  ip: '127.0.0.1',
  port: 0,
  profile: 'default',
  heartbeatMs: 1000,
  deadAfterMs: 5000,
  maxMessageBytes: DEFAULT_MAX_MESSAGE_BYTES,
  exitWithParent: false,
  restart: 'never',
  maxRestarts: 5,
  restartWindowMs: 60_000,
  reuseKey: false,
  reconnectMs: 10_000,
  maxOutputBytes: 16 * 1024 * 1024,
  resultStoreBytes: 128 * 1024 * 1024,
  resultStoreEntries: 4096,
  scheme: 'leastload',
  hwm: DEFAULT_HWM,
  db: 'sqlite',
  dbMaxRows: 1_000_000,
  dbMaxBytes: 1024 * 1024 * 1024,
};

export const USAGE = `usage: multiengine controller [--ip ADDR] [--location ADDR] [--port N] [--profile P] [--dir D]
       [--heartbeat-ms MS] [--dead-after-ms MS] [--max-message-bytes N] [--python PATH] [--exit-with-parent]
       [--restart always|never] [--max-restarts N] [--restart-window-ms MS] [--reuse-key] [--reconnect-ms MS]
       [--max-output-bytes N] [--result-store-bytes N] [--result-store-entries N]
       [--scheme leastload|lru|random|twobin|weighted] [--hwm N]
       [--db sqlite|memory|none] [--db-max-rows N] [--db-max-bytes N]
  --db: where task records go (rc.dbQuery, rc.getResult after a restart): sqlite (default; <profile>/tasks.db),
        memory (bounded, gone when the controller stops) or none; the caps (--db-max-rows, default 1000000;
        --db-max-bytes, default 1 GiB, records and kept results) drop the oldest first`;

export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

const VALUE_FLAGS = new Set([
  'ip',
  'location',
  'port',
  'profile',
  'dir',
  'heartbeat-ms',
  'dead-after-ms',
  'max-message-bytes',
  'python',
  'restart',
  'max-restarts',
  'restart-window-ms',
  'reconnect-ms',
  'max-output-bytes',
  'result-store-bytes',
  'result-store-entries',
  'scheme',
  'hwm',
  'db',
  'db-max-rows',
  'db-max-bytes',
]);

/**
 * Parses `--flag value` and `--flag=value`. Unknown flags are returned in `unknown`
 * (the caller warns) so a newer launcher passing a newer flag does not stop the controller.
 */
export function parseArgs(argv: readonly string[]): { options: ControllerOptions; unknown: string[]; help: boolean } {
  const o: ControllerOptions = { ...DEFAULT_OPTIONS };
  const unknown: string[] = [];
  let help = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--help' || arg === '-h') {
      help = true;
      continue;
    }
    if (!arg.startsWith('--')) {
      unknown.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const name = eq > 0 ? arg.slice(2, eq) : arg.slice(2);
    if (name === 'exit-with-parent') {
      o.exitWithParent = true;
      continue;
    }
    if (name === 'reuse-key') {
      o.reuseKey = true;
      continue;
    }
    if (!VALUE_FLAGS.has(name)) {
      unknown.push(arg);
      continue;
    }
    let value: string;
    if (eq > 0) value = arg.slice(eq + 1);
    else {
      if (i + 1 >= argv.length) throw new UsageError(`--${name} needs a value`);
      value = argv[++i];
    }
    switch (name) {
      case 'ip':
        if (!value) throw new UsageError('--ip needs an address');
        o.ip = value;
        break;
      case 'location':
        if (!value) throw new UsageError('--location needs an address or host name');
        o.location = value;
        break;
      case 'port':
        o.port = int(name, value, 0, 65535);
        break;
      case 'profile':
        if (!/^[\w.-]+$/.test(value)) throw new UsageError(`bad --profile ${JSON.stringify(value)}: use letters, digits, '.', '_' and '-'`);
        o.profile = value;
        break;
      case 'dir':
        if (!value) throw new UsageError('--dir needs a path');
        o.dir = value;
        break;
      case 'heartbeat-ms':
        o.heartbeatMs = int(name, value, 10, 3_600_000);
        break;
      case 'dead-after-ms':
        o.deadAfterMs = int(name, value, 10, 86_400_000);
        break;
      case 'max-message-bytes':
        o.maxMessageBytes = int(name, value, 1024, 2 ** 32 - 1);
        break;
      case 'python':
        if (!value) throw new UsageError('--python needs a path');
        o.python = value;
        break;
      case 'restart':
        if (value !== 'always' && value !== 'never') throw new UsageError(`--restart must be always or never, got ${JSON.stringify(value)}`);
        o.restart = value;
        break;
      case 'max-restarts':
        o.maxRestarts = int(name, value, 0, 1_000_000);
        break;
      case 'restart-window-ms':
        o.restartWindowMs = int(name, value, 1, 86_400_000);
        break;
      case 'reconnect-ms':
        o.reconnectMs = int(name, value, 0, 86_400_000);
        break;
      case 'max-output-bytes':
        o.maxOutputBytes = int(name, value, 1024, 2 ** 32 - 1);
        break;
      case 'result-store-bytes':
        o.resultStoreBytes = int(name, value, 0, 2 ** 42);
        break;
      case 'result-store-entries':
        o.resultStoreEntries = int(name, value, 0, 10_000_000);
        break;
      case 'scheme':
        o.scheme = parseScheme(value);
        break;
      case 'hwm':
        o.hwm = parseHwm(value);
        break;
      case 'db':
        o.db = parseDb(value);
        break;
      case 'db-max-rows':
        o.dbMaxRows = int(name, value, 1, 1_000_000_000);
        break;
      case 'db-max-bytes':
        o.dbMaxBytes = int(name, value, 1024, 2 ** 42);
        break;
    }
  }
  if (o.deadAfterMs <= o.heartbeatMs) {
    throw new UsageError(`--dead-after-ms (${o.deadAfterMs}) must be larger than --heartbeat-ms (${o.heartbeatMs})`);
  }
  return { options: o, unknown, help };
}

/** --scheme's value (also checked by `multiengine start` before it starts a controller). */
export function parseScheme(value: string): Scheme {
  if (!(SCHEMES as readonly string[]).includes(value)) throw new UsageError(`--scheme must be one of ${SCHEMES.join(', ')}, got ${JSON.stringify(value)}`);
  return value as Scheme;
}

/** --hwm's value: load-balanced tasks outstanding per engine at most, 0 for no limit. */
export function parseHwm(value: string): number {
  return int('hwm', value, 0, 1_000_000);
}

/** --db's value: where task records are kept. */
export function parseDb(value: string): DbBackend {
  if (!(DB_BACKENDS as readonly string[]).includes(value)) throw new UsageError(`--db must be sqlite, memory or none, got ${JSON.stringify(value)}`);
  return value as DbBackend;
}

function int(name: string, value: string, min: number, max: number): number {
  const n = /^\d+$/.test(value) ? Number(value) : NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    throw new UsageError(`--${name} must be a whole number from ${min} to ${max}, got ${JSON.stringify(value)}`);
  }
  return n;
}
