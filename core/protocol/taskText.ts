/**
 * What a task record keeps of a request's code and label: one rule for the controller's
 * recorder and for engines that report their direct requests (task_report).
 */
import type { Message } from './messages.js';

/** Kept of a request's code (or function source, or names). */
export const CODE_CHARS = 4096;

/** A load-balanced task's label (metadata.balanced.label), or a direct request's metadata.label. */
export function labelOf(md: { label?: unknown; balanced?: unknown }): string | null {
  const b = md.balanced as { label?: unknown } | undefined;
  const label = typeof b === 'object' && b !== null ? b.label : md.label;
  return typeof label === 'string' ? label : null;
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
