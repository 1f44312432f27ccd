/**
 * The SQLite task store: a file in the profile folder, through node-sqlite3-wasm (SQLite compiled
 * to WebAssembly: installs from the npm registry alone and runs unchanged under Node and inside
 * Electron; docs/reliability.md, "Task database"). Synchronous; the controller runs it in a
 * worker thread (sqliteWorker.ts) so a batch never blocks the controller's loop.
 *
 * One row per request and engine in `tasks`; the answers of requests whose client went away in
 * `values_` (raw signed messages, one blob); execute and apply requests as they came in `requests_`
 * (for resubmit). Caps: rows of `tasks` (and of `requests_`), and bytes of all three (stored
 * values go first, then kept requests, then the oldest records).
 */
import sqlite from 'node-sqlite3-wasm';
import type { TaskFilter, TaskRecord } from '../../protocol/messages.js';
import { TASK_FIELDS } from '../../protocol/messages.js';
import { recordBytes, whereClause } from './query.js';
import type { Caps, StoreCounts, StoredRequest, StoredValue, TaskStore } from './taskStore.js';
import { requestBytes, valueBytes } from './taskStore.js';
import { packMessages, unpackMessages } from './valueBlob.js';

type Database = InstanceType<typeof sqlite.Database>;
type Statement = ReturnType<Database['prepare']>;
type Row = Record<string, string | number | bigint | Uint8Array | null>;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS tasks (
  seq INTEGER PRIMARY KEY AUTOINCREMENT, msg_id TEXT NOT NULL, engine_id INTEGER, client INTEGER, msg_type TEXT, label TEXT,
  code TEXT, balanced INTEGER, status TEXT, submitted TEXT, received TEXT, started TEXT, completed TEXT, ename TEXT, evalue TEXT,
  traceback TEXT, result_bytes INTEGER, stdout TEXT, stderr TEXT, bytes INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS tasks_msg_id ON tasks (msg_id);
CREATE TABLE IF NOT EXISTS values_ (
  seq INTEGER PRIMARY KEY AUTOINCREMENT, msg_id TEXT NOT NULL UNIQUE, msg_type TEXT NOT NULL, engine_ids TEXT NOT NULL,
  messages BLOB NOT NULL, bytes INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS requests_ (
  seq INTEGER PRIMARY KEY AUTOINCREMENT, msg_id TEXT NOT NULL UNIQUE, msg_type TEXT NOT NULL, metadata TEXT NOT NULL,
  content TEXT NOT NULL, buffers BLOB NOT NULL, bytes INTEGER NOT NULL);`;

/** A record's time for history's order: when it was submitted, else (no header date) the first time it has. */
const SUBMITTED_OR_AFTER = 'coalesce(submitted, received, started, completed)';

/** Rows per INSERT statement in a batch: fewer statement steps across WebAssembly (the rest go one by one). */
const ROWS_PER_INSERT = 32;
const COLUMNS = TASK_FIELDS.length + 1;
const insertRows = (n: number) => `INSERT INTO tasks (${TASK_FIELDS.map((f) => `"${f}"`).join(', ')}, bytes) VALUES ${Array.from({ length: n }, () => `(${Array.from({ length: COLUMNS }, () => '?').join(', ')})`).join(', ')}`;

/** Rows deleted per statement while trimming to the byte cap. */
const TRIM_CHUNK = 256;

export class SqliteStore implements TaskStore {
  private readonly db: Database;
  /** The statements records go through, prepared once: one row, and ROWS_PER_INSERT rows. */
  private insert!: Statement;
  private insertMany!: Statement;
  private rows = 0;
  private requests = 0;
  private bytes = 0;
  private evicted = 0;

  /** Opens (or creates) the file; throws SQLite3Error for a file that is not a usable database. */
  constructor(
    readonly file: string,
    private readonly caps: Caps,
  ) {
    this.db = new sqlite.Database(file);
    try {
      // No fsync per commit (a 20 ms flush each): a killed controller loses nothing, since each
      // commit is in the OS before it returns; only a machine crash can cut the last ones or
      // corrupt the file, which then falls back to memory (TaskDb). ~2.5x less CPU per record.
      this.db.exec('PRAGMA synchronous=OFF');
      // One controller owns the file (TaskDb.claimFile): it keeps SQLite's lock for as long as it
      // is open, instead of node-sqlite3-wasm making and removing `<file>.lock` (a directory) for
      // every transaction, and it keeps the rollback journal file, zeroing its header rather than
      // deleting it. Together ~10x less per 20 ms batch; the journal still rolls back a cut commit.
      this.db.exec('PRAGMA locking_mode=EXCLUSIVE');
      this.db.exec('PRAGMA journal_mode=PERSIST');
      this.db.exec(SCHEMA);
      this.insert = this.db.prepare(insertRows(1));
      this.insertMany = this.db.prepare(insertRows(ROWS_PER_INSERT));
      this.recount();
    } catch (e) {
      this.db.close();
      throw e;
    }
  }

  write(records: readonly TaskRecord[], values: readonly StoredValue[], requests: readonly StoredRequest[] = []): void {
    if (records.length === 0 && values.length === 0 && requests.length === 0) return;
    this.db.exec('BEGIN');
    try {
      const many: (string | number | null)[] = new Array(COLUMNS * ROWS_PER_INSERT);
      const one: (string | number | null)[] = new Array(COLUMNS);
      const whole = records.length - (records.length % ROWS_PER_INSERT);
      for (let j = 0; j < records.length; j++) {
        const r = records[j];
        const cells = j < whole ? many : one;
        const at = j < whole ? (j % ROWS_PER_INSERT) * COLUMNS : 0;
        const bytes = recordBytes(r);
        for (let i = 0; i < TASK_FIELDS.length; i++) cells[at + i] = sqlCell(r[TASK_FIELDS[i]]);
        cells[at + TASK_FIELDS.length] = bytes;
        this.bytes += bytes;
        if (j >= whole) this.insert.run(one);
        else if (j % ROWS_PER_INSERT === ROWS_PER_INSERT - 1) this.insertMany.run(many);
      }
      this.rows += records.length;
      for (const v of values) {
        const bytes = valueBytes(v);
        const old = this.db.get('SELECT bytes FROM values_ WHERE msg_id = ?', [v.msg_id]) as Row | null;
        if (old) this.bytes -= Number(old.bytes);
        this.db.run('INSERT OR REPLACE INTO values_ (msg_id, msg_type, engine_ids, messages, bytes) VALUES (?, ?, ?, ?, ?)', [v.msg_id, v.msg_type, JSON.stringify(v.engine_ids), packMessages(v.messages), bytes]);
        this.bytes += bytes;
      }
      if (requests.length > 0) {
        const insert = this.db.prepare('INSERT OR IGNORE INTO requests_ (msg_id, msg_type, metadata, content, buffers, bytes) VALUES (?, ?, ?, ?, ?, ?)');
        try {
          for (const r of requests) {
            const bytes = requestBytes(r);
            if (insert.run([r.msg_id, r.msg_type, r.metadata, r.content, packMessages([r.buffers]), bytes]).changes > 0) {
              this.bytes += bytes;
              this.requests++;
            }
          }
        } finally {
          insert.finalize();
        }
      }
      this.trim();
      this.db.exec('COMMIT');
    } catch (e) {
      if (this.db.inTransaction) this.db.exec('ROLLBACK');
      this.recount();
      throw e;
    }
  }

  /** The oldest rows go until both caps hold: stored values first (the bulk of the bytes), then kept requests, then records. */
  private trim(): void {
    if (this.rows > this.caps.maxRows) this.dropOldestTasks(this.rows - this.caps.maxRows);
    if (this.requests > this.caps.maxRows) this.dropOldest('requests_', this.requests - this.caps.maxRows);
    while (this.bytes > this.caps.maxBytes) {
      if (this.dropOldest('values_', 1) > 0) continue;
      if (this.requests > 0) this.dropOldest('requests_', Math.min(this.requests, TRIM_CHUNK));
      else if (this.rows > 0) this.dropOldestTasks(Math.min(this.rows, TRIM_CHUNK));
      else break;
    }
  }

  /** Deletes the `n` oldest rows of a side table (values_, requests_); returns how many went. */
  private dropOldest(table: 'values_' | 'requests_', n: number): number {
    const last = this.db.get(`SELECT max(seq) AS s, coalesce(sum(bytes), 0) AS b, count(*) AS n FROM (SELECT seq, bytes FROM ${table} ORDER BY seq LIMIT ?)`, [n]) as Row;
    if (last.s === null) return 0;
    this.db.run(`DELETE FROM ${table} WHERE seq <= ?`, [last.s as number]);
    this.bytes -= Number(last.b);
    if (table === 'requests_') this.requests -= Number(last.n);
    return Number(last.n);
  }

  private dropOldestTasks(n: number): void {
    const last = this.db.get('SELECT max(seq) AS s, coalesce(sum(bytes), 0) AS b, count(*) AS n FROM (SELECT seq, bytes FROM tasks ORDER BY seq LIMIT ?)', [n]) as Row;
    if (last.s === null) return;
    this.db.run('DELETE FROM tasks WHERE seq <= ?', [last.s as number]);
    this.rows -= Number(last.n);
    this.bytes -= Number(last.b);
    this.evicted += Number(last.n);
  }

  /** Counts from the tables themselves (at open, and after a rolled-back or purging transaction). */
  private recount(): void {
    const t = this.db.get('SELECT count(*) AS n, coalesce(sum(bytes), 0) AS b FROM tasks') as Row;
    const v = this.db.get('SELECT coalesce(sum(bytes), 0) AS b FROM values_') as Row;
    const r = this.db.get('SELECT count(*) AS n, coalesce(sum(bytes), 0) AS b FROM requests_') as Row;
    this.rows = Number(t.n);
    this.requests = Number(r.n);
    this.bytes = Number(t.b) + Number(v.b) + Number(r.b);
  }

  query(filter: TaskFilter, keys?: readonly string[], last?: number): Partial<TaskRecord>[] {
    const { sql, values } = whereClause(filter);
    const cols = keys === undefined ? TASK_FIELDS : ['msg_id', 'engine_id', ...keys.filter((k) => k !== 'msg_id' && k !== 'engine_id')];
    const select = `SELECT seq, ${cols.map((c) => `"${c}"`).join(', ')} FROM tasks ${sql}`;
    // The newest `last` by the index on seq, not the whole table sorted in JavaScript.
    const rows = (last === undefined ? this.db.all(`${select} ORDER BY seq`, values) : this.db.all(`SELECT * FROM (${select} ORDER BY seq DESC LIMIT ?) ORDER BY seq`, [...values, last])) as Row[];
    return rows.map(fromRow);
  }

  history(): string[] {
    return (this.db.all(`SELECT msg_id FROM tasks GROUP BY msg_id ORDER BY min(${SUBMITTED_OR_AFTER}), min(seq)`) as Row[]).map((r) => r.msg_id as string);
  }

  request(msgId: string): StoredRequest | undefined {
    const r = this.db.get('SELECT msg_type, metadata, content, buffers FROM requests_ WHERE msg_id = ?', [msgId]) as Row | null;
    if (!r) return undefined;
    return { msg_id: msgId, msg_type: r.msg_type as string, metadata: r.metadata as string, content: r.content as string, buffers: unpackMessages(r.buffers as Uint8Array)[0] ?? [] };
  }

  value(msgId: string): StoredValue | undefined {
    const r = this.db.get('SELECT msg_type, engine_ids, messages FROM values_ WHERE msg_id = ?', [msgId]) as Row | null;
    if (!r) return undefined;
    return { msg_id: msgId, msg_type: r.msg_type as string, engine_ids: JSON.parse(r.engine_ids as string) as number[], messages: unpackMessages(r.messages as Uint8Array) };
  }

  purge(msgIds: readonly string[] | 'all', targets?: readonly number[]): number {
    const where: string[] = [];
    const values: (string | number)[] = [];
    if (msgIds !== 'all') {
      if (msgIds.length === 0) return 0;
      where.push(`msg_id IN (${msgIds.map(() => '?').join(', ')})`);
      values.push(...msgIds);
    }
    const tasksWhere = [...where];
    const tasksValues = [...values];
    if (targets !== undefined) {
      tasksWhere.push(`engine_id IN (${targets.map(() => '?').join(', ') || 'NULL'})`);
      tasksValues.push(...targets);
    }
    const clause = (w: string[]) => (w.length ? `WHERE ${w.join(' AND ')}` : '');
    this.db.exec('BEGIN');
    try {
      const n = this.db.run(`DELETE FROM tasks ${clause(tasksWhere)}`, tasksValues).changes;
      // A stored value holds every engine's answer: it goes only when no target limits the purge.
      if (targets === undefined) {
        this.db.run(`DELETE FROM values_ ${clause(where)}`, values);
        this.db.run(`DELETE FROM requests_ ${clause(where)}`, values);
      }
      this.db.exec('COMMIT');
      return n;
    } catch (e) {
      if (this.db.inTransaction) this.db.exec('ROLLBACK');
      throw e;
    } finally {
      this.recount();
    }
  }

  counts(): StoreCounts {
    return { rows: this.rows, bytes: this.bytes, evicted: this.evicted };
  }

  close(): void {
    if (!this.db.isOpen) return;
    this.insert.finalize();
    this.insertMany.finalize();
    this.db.close();
  }
}

function sqlCell(v: TaskRecord[keyof TaskRecord]): string | number | null {
  if (v === null || typeof v === 'string' || typeof v === 'number') return v;
  if (typeof v === 'boolean') return Number(v);
  return JSON.stringify(v);
}

function fromRow(row: Row): Partial<TaskRecord> {
  const out: Record<string, unknown> = {};
  for (const k in row) {
    if (k === 'seq') continue; // selected for ordering only
    const v = row[k];
    out[k] = k === 'balanced' ? v === 1 : k === 'traceback' ? (v === null ? null : (JSON.parse(v as string) as string[])) : typeof v === 'bigint' ? Number(v) : v;
  }
  return out as Partial<TaskRecord>;
}
