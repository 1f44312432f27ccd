/**
 * `multiengine tasks`: the running cluster's task records (its controller's task database,
 * docs/protocol.md section 15) as a table, or as JSON lines; flags filter them (rc.dbQuery) and
 * --last keeps the newest. Turning flags into a query is pure (tasksQuery), for its tests.
 */
import { parseArgs } from 'node:util';
import { TASK_STATUSES, WORK_REQUESTS, type TaskFilter, type TaskRecord, type TaskStatus } from '../protocol/messages.js';
import { connectTo, PROFILE_FLAGS } from './profileOptions.js';
import { formatTaskTable, inSubmissionOrder, TABLE_FIELDS, type TableRecord } from './tasksTable.js';
import { UsageError } from './usage.js';

export const TASKS_FLAGS = {
  ...PROFILE_FLAGS,
  engine: { type: 'string' },
  status: { type: 'string' },
  method: { type: 'string' },
  label: { type: 'string' },
  last: { type: 'string' },
  json: { type: 'boolean', default: false },
} as const;

export interface TasksFlagValues {
  engine?: string;
  status?: string;
  method?: string;
  label?: string;
  last?: string;
}

/** The methods a record can have, as users name them: execute, apply, push, ... */
const METHODS = WORK_REQUESTS.map((t) => t.replace(/_request$/, ''));

function usage(message: string): UsageError {
  return new UsageError(message, 'tasks');
}

/** The dbQuery filter and --last of the flags; a bad value is a usage error naming its flag. */
export function tasksQuery(v: TasksFlagValues): { filter: TaskFilter; last?: number } {
  const filter: TaskFilter = {};
  if (v.engine !== undefined) {
    if (!/^\d+$/.test(v.engine.trim())) throw usage(`--engine must be an engine id (0, 1, ... as \`multiengine status\` lists them), got ${JSON.stringify(v.engine)}`);
    filter.engine_id = Number(v.engine);
  }
  if (v.status !== undefined) {
    if (!(TASK_STATUSES as readonly string[]).includes(v.status)) throw usage(`--status must be one of ${TASK_STATUSES.join(', ')}, got ${JSON.stringify(v.status)}`);
    filter.status = v.status as TaskStatus;
  }
  if (v.method !== undefined) {
    const m = v.method.replace(/_request$/, '');
    if (!METHODS.includes(m)) throw usage(`--method must be one of ${METHODS.join(', ')}, got ${JSON.stringify(v.method)}`);
    filter.msg_type = `${m}_request`;
  }
  if (v.label !== undefined) {
    if (v.label === '') throw usage('--label needs a label (as a view\'s label, or metadata.label)');
    filter.label = v.label;
  }
  let last: number | undefined;
  if (v.last !== undefined) {
    last = Number(v.last);
    if (!/^\d+$/.test(v.last.trim()) || !Number.isSafeInteger(last) || last < 1) throw usage(`--last must be a whole number of records ≥ 1, got ${JSON.stringify(v.last)}`);
  }
  return { filter, last };
}

/** `--status error --engine 1`: the filtering flags as given, for "nothing matches". */
function filterFlags(v: TasksFlagValues): string {
  return (['engine', 'status', 'method', 'label'] as const)
    .filter((k) => v[k] !== undefined)
    .map((k) => `--${k} ${v[k]}`)
    .join(' ');
}

export async function tasks(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: TASKS_FLAGS });
  const { filter, last } = tasksQuery(values);
  const rc = await connectTo(values);
  try {
    const db = (await rc.status()).task_db;
    if (db?.backend === 'none') {
      console.error(`cluster "${values.profile}" keeps no task records: its controller runs with --db none (start it with --db sqlite, the default, or --db memory to keep them)`);
      return 1;
    }
    // The table leaves out output and tracebacks: they can be large, and --json has them.
    const keys = values.json ? undefined : TABLE_FIELDS;
    const records = inSubmissionOrder((await rc.dbQuery(filter, keys, { last })) as TaskRecord[], last);
    if (records.length === 0) {
      const flags = filterFlags(values);
      const none = flags ? `no task records match ${flags}` : `no task records yet: the task database of cluster "${values.profile}" is empty`;
      // With --json, stdout stays JSON lines only.
      (values.json ? console.error : console.log)(none);
      return 0;
    }
    if (values.json) process.stdout.write(records.map((r) => `${JSON.stringify(r)}\n`).join(''));
    else console.log(formatTaskTable(records as TableRecord[]));
  } finally {
    rc.close();
  }
  return 0;
}
