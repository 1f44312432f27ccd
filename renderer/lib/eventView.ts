/** The Events view's list: newest first, each event once (pushes may repeat what the first read gave), bounded. */
import type { ClusterEvent, ClusterEventKind } from '../../preload/contract';

/** Events shown at most (main keeps as many). */
export const MAX_SHOWN = 5000;

export const EVENT_LABELS: Record<ClusterEventKind, string> = {
  connected: 'connected',
  registered: 'registered',
  died: 'died',
  restarted: 'restarted',
  resumed: 'resumed',
  unregistered: 'left',
  'controller-exited': 'controller exited',
  'controller-restarted': 'controller restarted',
  'controller-lost': 'controller lost',
  stopped: 'stopped',
  disconnected: 'disconnected',
  'set-started': 'set started',
  'set-pending': 'set waiting',
  'set-ended': 'set ended',
};

/**
 * How an event is coloured: bad news, good news, or something to note. An exit or a death
 * that is part of a stop someone asked for is ordinary news; only one nobody asked for is bad.
 */
export function eventTone(e: Pick<ClusterEvent, 'kind' | 'requested'>): 'bad' | 'good' | 'warn' | 'plain' {
  const { kind } = e;
  if (kind === 'died' || kind === 'controller-exited' || kind === 'controller-lost') return e.requested ? 'plain' : 'bad';
  if (kind === 'registered' || kind === 'connected' || kind === 'set-started') return 'good';
  if (kind === 'restarted' || kind === 'controller-restarted' || kind === 'set-pending' || kind === 'resumed') return 'warn';
  return 'plain';
}

/** `shown` (newest first) with `added` (any order) in, by seq, without repeats. */
export function mergeEvents(shown: readonly ClusterEvent[], added: readonly ClusterEvent[]): ClusterEvent[] {
  const top = shown[0]?.seq ?? 0;
  const fresh = added.filter((e) => e.seq > top).sort((a, b) => b.seq - a.seq);
  if (fresh.length === 0) return shown as ClusterEvent[];
  const out = fresh.concat(shown);
  return out.length > MAX_SHOWN ? out.slice(0, MAX_SHOWN) : out;
}
