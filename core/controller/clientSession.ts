/** What the controller keeps per connected client. */
import type { Connection } from '../transport/connection.js';
import type { StoredResult } from './resultStore.js';

/** Which engine_event pushes a client gets ('registration': registrations, deaths and unresponsiveness). */
export type Subscription = 'none' | 'registration' | 'all';

export interface ClientRecord {
  /** Controller-local number, for logs. */
  readonly n: number;
  readonly conn: Connection;
  subscribe: Subscription;
  /** Stored results this client asked for while engines still ran them (result_request). */
  watching?: Set<StoredResult>;
}
