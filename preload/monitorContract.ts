/**
 * The dashboard's part of the contract (Plots, Logs, Events): its data shapes, requests,
 * pushes and channels. preload/contract.ts re-exports it and adds its requests and pushes to
 * the contract's; like it, this module is pure (no electron, no node:*, no DOM).
 */

/**
 * CPU and memory over the last minutes, by column: one time axis shared by the cluster's
 * totals and every engine (null where an engine had no number at that tick).
 */
export interface MetricsHistory {
  /** How often a sample is taken, and how much history is kept (ms). */
  intervalMs: number;
  windowMs: number;
  /** Epoch ms of each sample, oldest first. */
  t: number[];
  /** Sum over the engines: CPU in percent of one core, resident memory in bytes. */
  totalCpu: number[];
  totalRss: number[];
  engines: { id: number; cpu: (number | null)[]; rss: (number | null)[] }[];
}

/** One new sample (what the renderer appends to the history it has). */
export interface MetricsSample {
  t: number;
  totalCpu: number;
  totalRss: number;
  /** Engine ids, and their numbers in the same order. */
  ids: number[];
  cpu: (number | null)[];
  rss: (number | null)[];
}

/** Where a log line came from: the controller's own log, or an engine (requests' output and the process's own). */
export type LogStream = 'log' | 'stdout' | 'stderr' | 'process';

export interface LogLine {
  /** Increases with every line kept (across sources). */
  seq: number;
  /** Epoch ms it was read. */
  t: number;
  /** 'controller', 'engine <id>', or 'set-<n>' (an engine set's output its launcher could not tell the engine of). */
  source: string;
  stream: LogStream;
  text: string;
}

export interface LogSource {
  source: string;
  lines: number;
  bytes: number;
  /** Oldest lines dropped to keep the caps. */
  dropped: number;
}

export interface LogQuery {
  /** One source ('controller', 'engine 3'), or null for all. */
  from: string | null;
  /** Case-insensitive text to find; '' matches every line. */
  text: string;
}

export interface LogResult {
  /** The newest matching lines, oldest first (at most LOG_RESULT_LINES). */
  lines: LogLine[];
  /** Matching lines left out past that limit. */
  more: number;
  sources: LogSource[];
}

/** Lines a search answers with at most. */
export const LOG_RESULT_LINES = 10_000;

/** Whether `line` is one `q` asks for: the renderer filters new lines with the same test as main. */
export function logLineMatches(line: Pick<LogLine, 'source' | 'text'>, q: LogQuery): boolean {
  if (q.from !== null && line.source !== q.from) return false;
  return q.text === '' || line.text.toLowerCase().includes(q.text.toLowerCase());
}

/** Orders log sources: 'controller' first, then engines by id, then engine sets by number. */
export function compareLogSources(a: string, b: string): number {
  const n = (s: string) => (s === 'controller' ? -1 : s.startsWith('set-') ? 1e9 + Number(s.slice(4)) : Number(s.replace(/^engine /, '')));
  return n(a) - n(b) || a.localeCompare(b);
}

export type ClusterEventKind =
  | 'connected'
  | 'registered'
  | 'died'
  | 'restarted'
  | 'resumed'
  | 'unregistered'
  | 'controller-exited'
  | 'controller-restarted'
  | 'controller-lost'
  | 'stopped'
  | 'disconnected'
  | 'set-started'
  | 'set-pending'
  | 'set-ended';

export interface ClusterEvent {
  seq: number;
  /** Epoch ms. */
  t: number;
  kind: ClusterEventKind;
  engine: number | null;
  set: string | null;
  /** What happened, in a sentence ("python engine 3 registered from host-a, pid 123"). */
  text: string;
  /** Why (an engine's death, a restart, a set's end), in the words of whoever knew. */
  cause: string | null;
  /** Part of a stop someone asked for (the controller shut down on request, an engine stopped): an ordinary event, not a failure. */
  requested: boolean;
}

export interface MonitorInvokeTypes {
  getMetricsHistory: [void, MetricsHistory];
  searchLogs: [LogQuery, LogResult];
  listClusterEvents: [void, ClusterEvent[]];
}

export interface MonitorEventTypes {
  onMetricsSample: MetricsSample;
  /** New log lines (batched), and the sources' counts when lines were dropped. */
  onLogLines: { lines: LogLine[]; sources: LogSource[] };
  onClusterEvents: ClusterEvent[];
}

export const MONITOR_INVOKE_CHANNELS = {
  getMetricsHistory: 'me:monitor:metrics',
  searchLogs: 'me:monitor:logs',
  listClusterEvents: 'me:monitor:events',
} as const satisfies { [K in keyof MonitorInvokeTypes]: string };

export const MONITOR_EVENT_CHANNELS = {
  onMetricsSample: 'me:monitor:sample',
  onLogLines: 'me:monitor:log-lines',
  onClusterEvents: 'me:monitor:cluster-events',
} as const satisfies { [K in keyof MonitorEventTypes]: string };
