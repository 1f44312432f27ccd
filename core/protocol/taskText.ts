/**
 * What a task record keeps of a request's code and label: one rule for the controller's
 * recorder and for engines that report their direct requests (task_report).
 */
import type { Message, TaskMap } from './messages.js';

/** Longest map id kept (metadata.balanced.map.id). */
export const MAX_MAP_ID = 64;

/** Kept of a request's code (or function source, or names). */
export const CODE_CHARS = 4096;

/** A load-balanced task's label (metadata.balanced.label), or a direct request's metadata.label. */
export function labelOf(md: { label?: unknown; balanced?: unknown }): string | null {
  const b = md.balanced as { label?: unknown } | undefined;
  const label = typeof b === 'object' && b !== null ? b.label : md.label;
  return typeof label === 'string' ? label : null;
}

/** A load-balanced map task's map (metadata.balanced.map), or undefined (absent or malformed: the scheduler's check names what is wrong). */
export function mapOf(md: { balanced?: unknown }): TaskMap | undefined {
  const m = (md.balanced as { map?: unknown } | undefined)?.map as Partial<TaskMap> | undefined;
  if (typeof m !== 'object' || m === null) return undefined;
  const { id, items, chunk } = m;
  if (typeof id !== 'string' || id.length > MAX_MAP_ID || !Number.isInteger(items) || !Number.isInteger(chunk)) return undefined;
  return { id, items: items as number, chunk: chunk as number };
}

/** The code (execute), the function's source (apply) or the names (push, pull), truncated. */
export function codeOf(msg: Pick<Message, 'content'>): string | null {
  const c = msg.content as { code?: unknown; fn?: unknown; ns?: unknown; names?: unknown };
  let s: string | null = null;
  if (typeof c.code === 'string') s = c.code;
  else if (typeof c.fn === 'string') s = c.fn;
  else if (Array.isArray(c.names)) s = c.names.join(', ');
  else if (c.ns !== null && typeof c.ns === 'object') s = Object.keys(c.ns).join(', ');
  return s !== null && s.length > CODE_CHARS ? s.slice(0, CODE_CHARS) : s;
}
