/** The messages between the controller's TaskDb and the SQLite worker thread (sqliteWorker.ts). */
import type { TaskFilter, TaskRecord } from '../../protocol/messages.js';
import type { DirectReport } from './directRecords.js';
import type { Caps, StoreCounts, StoredRequest, StoredValue } from './taskStore.js';

export interface WorkerSetup {
  file: string;
  caps: Caps;
}

export type WorkerRequest =
  | { op: 'write'; id?: undefined; records: TaskRecord[]; values: StoredValue[]; requests: StoredRequest[]; reports: DirectReport[] }
  | { op: 'client'; id?: undefined; session: string; client: number }
  | { op: 'query'; id: number; filter: TaskFilter; keys?: string[]; last?: number }
  | { op: 'history'; id: number }
  | { op: 'value'; id: number; msgId: string }
  | { op: 'request'; id: number; msgId: string }
  | { op: 'purge'; id: number; msgIds: string[] | 'all'; targets?: number[] }
  | { op: 'close'; id: number };

export type WorkerReply = { id: number; value: unknown } | { id: number; error: string } | { counts: StoreCounts; wrote?: true } | { fatal: string } | { malformed: string; engine: number };
