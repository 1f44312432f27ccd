/** What `multiengine status` prints: where the controller listens, its load balancing, engines, engine sets and result store. */
import type { StatusReport } from '../client/client.js';
import type { EngineInfo, EngineSetInfo, ListenAddress, TaskDbStatus } from '../protocol/messages.js';
import { table } from './textTable.js';


/** One row per engine; `balanced` is the part of its queue the scheduler sent ('-' from a controller without one). */
export function formatEngineTable(engines: readonly EngineInfo[]): string {
  const rows = engines.map((e) => [String(e.id), e.state, e.kernel, String(e.pid), e.host, String(e.queue), e.balanced === undefined ? '-' : String(e.balanced)]);
  return table([['id', 'state', 'kernel', 'pid', 'host', 'queue', 'balanced'], ...rows]);
}

/**
 * `load balancing: 12 tasks unassigned, scheme leastload, at most 2 tasks per engine`;
 * null for a controller that reports no scheduler (an older one).
 */
export function formatBalancing(s: Pick<StatusReport, 'unassigned' | 'scheme' | 'hwm'>): string | null {
  if (s.unassigned === undefined && s.scheme === undefined && s.hwm === undefined) return null;
  const parts: string[] = [];
  if (s.unassigned !== undefined) parts.push(`${s.unassigned} task${s.unassigned === 1 ? '' : 's'} unassigned`);
  if (s.scheme !== undefined) parts.push(`scheme ${s.scheme}`);
  if (s.hwm !== undefined) parts.push(s.hwm === 0 ? 'no limit of tasks per engine' : `at most ${s.hwm} task${s.hwm === 1 ? '' : 's'} per engine`);
  return `load balancing: ${parts.join(', ')}`;
}

/** `0-3,7`: ids in order, runs of consecutive ids as ranges. */
export function idRanges(ids: readonly number[]): string {
  const sorted = [...ids].sort((a, b) => a - b);
  const parts: string[] = [];
  for (let i = 0; i < sorted.length; ) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j] + 1) j++;
    parts.push(j === i ? String(sorted[i]) : `${sorted[i]}-${sorted[j]}`);
    i = j + 1;
  }
  return parts.join(',');
}

/** One row per engine set: its launcher, state, batch job, engines (registered of asked), hosts and why it pends or ended. */
export function formatEngineSets(sets: readonly EngineSetInfo[]): string {
  const rows = sets.map((s) => [
    s.id,
    s.launcher,
    s.state,
    s.job_id ?? '-',
    `${s.engines.length ? idRanges(s.engines) : 'none'} (${s.engines.length}/${s.n})`,
    s.hosts.length ? s.hosts.join(',') : '-',
    s.reason ?? '',
  ]);
  return table([['set', 'launcher', 'state', 'job', 'engines', 'hosts', 'reason'], ...rows]);
}

/** `listening on 10.0.0.1:5555 (reachable from other hosts; messages are HMAC-signed)`. */
export function formatListen(l: ListenAddress): string {
  const where = l.loopback ? 'this machine only' : 'reachable from other hosts; messages are HMAC-signed';
  const named = l.location && l.location !== l.ip ? `, engines and clients reach it as ${l.location}` : '';
  return `listening on ${l.ip}:${l.port} (${where}${named})`;
}

const mib = (n: number) => `${(n / 1048576).toFixed(1)} MiB`;

/** `result store: 3 results, 1.2 MiB of 128.0 MiB (max 4096 results), 0 evicted`. */
export function formatResultStore(r: { entries: number; bytes: number; max_entries: number; max_bytes: number; evicted: number }): string {
  return `result store: ${r.entries} result${r.entries === 1 ? '' : 's'}, ${mib(r.bytes)} of ${mib(r.max_bytes)} (max ${r.max_entries} results), ${r.evicted} evicted`;
}

/** `task database: sqlite (/p/tasks.db), 12 records, 0.1 MiB of 1024.0 MiB (max 1000000 records), 0 evicted`; a fallback says why. */
export function formatTaskDb(t: TaskDbStatus): string {
  if (t.backend === 'none') return 'task database: none (--db none: no task records are kept)';
  const where = t.backend === 'sqlite' ? `sqlite (${t.file ?? 'file'})` : t.fallback ? `memory, fallen back from sqlite: ${t.fallback}` : 'memory';
  return `task database: ${where}, ${t.rows} record${t.rows === 1 ? '' : 's'}, ${mib(t.bytes)} of ${mib(t.max_bytes)} (max ${t.max_rows} records), ${t.evicted} evicted`;
}
