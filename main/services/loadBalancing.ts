/** The controller's load balancing as the app shows it (ClusterSnapshot.balancing), from its status. */
import type { StatusReport } from '../../core/index.js';
import type { LoadBalancing } from '../../preload/contract.js';

/** What a status says of the scheduler; null from a controller that says nothing of one (an older one). */
export function balancingOf(s: Pick<StatusReport, 'unassigned' | 'scheme' | 'hwm'>): LoadBalancing | null {
  if (s.unassigned === undefined && s.scheme === undefined && s.hwm === undefined) return null;
  return { scheme: s.scheme ?? null, hwm: s.hwm ?? null, unassigned: s.unassigned ?? 0 };
}

export function sameBalancing(a: LoadBalancing | null, b: LoadBalancing | null): boolean {
  return a === b || (a !== null && b !== null && a.scheme === b.scheme && a.hwm === b.hwm && a.unassigned === b.unassigned);
}
