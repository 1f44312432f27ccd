/**
 * The worker thread that owns the SQLite store, so a batch's transaction never runs on the
 * controller's loop. Requests come as {op, id}; answers go back as {id, value} or {id, error}.
 * A store that cannot open, or a write that fails (a full disk, a file gone bad), is reported
 * once as {fatal} and the controller falls back to memory (taskDb.ts).
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import { parentPort, workerData } from 'node:worker_threads';
import { directRecords, SessionClients, type DirectReport } from './directRecords.js';
import { SqliteStore } from './sqliteStore.js';
import type { TaskRecord } from '../../protocol/messages.js';
import type { WorkerReply, WorkerRequest, WorkerSetup } from './workerMessages.js';

/**
 * Records are background work: the inserts should give way to the engines, clients and the
 * controller's own loop on a busy machine. On Linux this thread alone goes to SCHED_IDLE (it runs
 * only on a core nothing else wants, and any waking engine or client takes the core back at once),
 * through util-linux's `chrt`, as Node has no call for it; without `chrt`, nice 19 (setpriority(0)
 * is this thread alone). Nice 19 was not enough: on two cores, an async burst of direct requests
 * ran 8-17 % slower with the database on, and no slower when the reports were dropped before this
 * thread (docs/benchmarks.md, "Task database: the direct path"). Elsewhere setpriority would lower
 * the whole controller, so it is left alone there.
 */
function background(): void {
  if (process.platform !== 'linux') return;
  try {
    os.setPriority(19);
    const tid = fs.readlinkSync('/proc/thread-self').split('/').pop()!;
    spawnSync('chrt', ['--idle', '--pid', '0', tid], { stdio: 'ignore', timeout: 5000 });
  } catch {
    // not allowed here: the worker runs at the controller's priority
  }
}
background();

const port = parentPort!;
const setup = workerData as WorkerSetup;
const post = (m: WorkerReply) => port.postMessage(m);
let store: SqliteStore | null = null;
try {
  store = new SqliteStore(setup.file, setup.caps);
  post({ counts: store.counts() });
} catch (e) {
  post({ fatal: (e as Error).message });
}

const clients = new SessionClients();

port.on('message', (m: WorkerRequest) => {
  if (m.op === 'client') {
    clients.set(m.session, m.client);
    return;
  }
  if (store === null) {
    if (m.op !== 'write') post({ id: m.id, error: 'the task database is closed' });
    return;
  }
  try {
    switch (m.op) {
      case 'write':
        store.write(m.records, m.values, m.requests);
        writeReports(store, m.reports);
        post({ counts: store.counts(), wrote: true });
        return;
      case 'query':
        return post({ id: m.id, value: store.query(m.filter, m.keys, m.last) });
      case 'history':
        return post({ id: m.id, value: store.history() });
      case 'value':
        return post({ id: m.id, value: store.value(m.msgId) });
      case 'request':
        return post({ id: m.id, value: store.request(m.msgId) });
      case 'purge':
        post({ id: m.id, value: store.purge(m.msgIds, m.targets) });
        post({ counts: store.counts() });
        return;
      case 'close':
        store.close();
        store = null;
        return post({ id: m.id, value: null });
    }
  } catch (e) {
    if (m.op === 'write') {
      store?.close();
      store = null;
      post({ fatal: (e as Error).message });
    } else post({ id: m.id, error: (e as Error).message });
  }
});

/** Records per transaction when a batch's reports are written (a larger report goes in one). */
const REPORT_ROWS = 512;

/**
 * The engines' reports (read here, off the controller's loop), in transactions of about
 * REPORT_ROWS records: a gathered batch holds many reports (writeQueue.ts), and records made and
 * written a few hundred at a time die young (cheap for V8's collector) where a whole batch's would
 * outlive a scavenge; small reports (a Python engine reports when it goes idle) share one.
 */
function writeReports(store: SqliteStore, reports: readonly DirectReport[]): void {
  let records: TaskRecord[] = [];
  for (const r of reports) {
    try {
      for (const t of directRecords(r, clients)) records.push(t);
    } catch (e) {
      post({ malformed: (e as Error).message, engine: r.engine });
    }
    if (records.length >= REPORT_ROWS) {
      store.write(records, []);
      records = [];
    }
  }
  store.write(records, []);
}
