/**
 * Task records of direct requests, from their engines' task_report buffers (protocol section 13):
 * checked and turned into records where they are stored, in the SQLite worker thread (or on the
 * controller's loop for a memory store, or when task events need them), so the loop that routes
 * requests only forwards the bytes.
 */
import { directEntries } from '../../protocol/directEntries.js';
import type { TaskRecord } from '../../protocol/messages.js';

/** One engine's task_report as it came: its entry count and buffer. */
export interface DirectReport {
  engine: number;
  n: number;
  bytes: Uint8Array;
}

/** Client sessions remembered for naming the client of an engine's direct request (oldest forgotten first). */
const MAX_SESSIONS = 10_000;

/** Client session -> the controller's number for it (direct requests name only their session). */
export class SessionClients {
  private readonly clients = new Map<string, number>();

  set(session: string, client: number): void {
    if (this.clients.size >= MAX_SESSIONS) this.clients.delete(this.clients.keys().next().value as string);
    this.clients.set(session, client);
  }

  /** The client's number, or 0 when its session is not known (any more). */
  of(session: string): number {
    return this.clients.get(session) ?? 0;
  }
}

/** The records of a report; throws a WireError naming the bad entry and field. */
export function directRecords(r: DirectReport, clients: SessionClients): TaskRecord[] {
  const out: TaskRecord[] = [];
  for (const t of directEntries(r.bytes, r.n)) {
    const error = t[7] === 'error';
    out.push({
      msg_id: t[0],
      engine_id: r.engine,
      client: clients.of(t[2]),
      msg_type: t[1],
      label: t[10],
      code: t[9],
      balanced: false,
      status: t[7],
      submitted: t[3],
      received: t[4],
      started: t[5],
      completed: t[6],
      ename: error ? (t[13] ?? null) : null,
      evalue: error ? (t[14] ?? null) : null,
      traceback: null,
      result_bytes: t[8],
      stdout: t[11] ?? '',
      stderr: t[12] ?? '',
    });
  }
  return out;
}
