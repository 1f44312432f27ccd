/**
 * metadata.balanced of a load-balanced request (docs/protocol.md, section 14), checked once where
 * the controller's scheduler takes it; its bounds are shared with the client's own checks.
 */
import type { BalancedSpec, DirectOutcome, Message } from './messages.js';
import { MAX_MAP_ID, mapOf } from './taskText.js';
import { describe, isCount, isObject, kernel, WireError } from './validate.js';

/** Work requests the scheduler can balance: they run code and leave nothing engine-specific behind to pull. */
const BALANCEABLE: ReadonlySet<string> = new Set(['apply_request', 'execute_request']);
/** Bounds of metadata.balanced, so one request cannot make the scheduler hold unbounded state. */
export const MAX_BALANCED_RETRIES = 1000;
export const MAX_BALANCED_DEPENDENCIES = 10_000;
const MAX_LABEL = 256;

function balancedCount(v: unknown, field: string, min: number, max: number, what: string): number {
  if (!Number.isSafeInteger(v) || (v as number) < min || (v as number) > max) throw new WireError(`metadata.balanced.${field} must be ${what}, got ${describe(v)}`, 'ValueError');
  return v as number;
}

function balancedIds(v: unknown, field: string): string[] {
  if (!Array.isArray(v) || v.length > MAX_BALANCED_DEPENDENCIES || !v.every((x) => typeof x === 'string' && x !== '')) {
    throw new WireError(`metadata.balanced.${field} must be an array of at most ${MAX_BALANCED_DEPENDENCIES} msg_id strings, got ${describe(v)}`, 'ValueError');
  }
  return v as string[];
}

function directOutcomes(v: unknown): DirectOutcome[] {
  const ok = (d: unknown): d is DirectOutcome =>
    isObject(d) && typeof d.msg_id === 'string' && d.msg_id !== '' && typeof d.ok === 'boolean' && Array.isArray(d.engines) && d.engines.length <= 100_000 && d.engines.every(isCount);
  if (!Array.isArray(v) || v.length > MAX_BALANCED_DEPENDENCIES || !v.every(ok)) {
    throw new WireError(`metadata.balanced.direct must be an array of at most ${MAX_BALANCED_DEPENDENCIES} {msg_id, ok, engines} objects, got ${describe(v)}`, 'ValueError');
  }
  return v.map((d) => ({ msg_id: d.msg_id, ok: d.ok, engines: [...d.engines] }));
}

/**
 * metadata.balanced of a load-balanced request, checked once where the controller takes it:
 * a new object with the known fields (ValueError naming the field for a bad value).
 */
export function checkBalanced(msgType: string, metadata: Message['metadata']): BalancedSpec {
  const b = metadata.balanced as unknown;
  if (!BALANCEABLE.has(msgType)) throw new WireError(`${msgType} cannot be load-balanced: only apply_request and execute_request can (send it with metadata.targets)`, 'ValueError');
  if (metadata.targets !== undefined) throw new WireError('a load-balanced request (metadata.balanced) must not name metadata.targets: use metadata.balanced.pool to restrict its engines', 'ValueError');
  if (!isObject(b)) throw new WireError(`metadata.balanced must be an object {pool?, retries?, timeout_ms?, after?, follow?, success_only?, label?, store?, kernel?, map?}, got ${describe(b)}`, 'ValueError');
  const out: BalancedSpec = {};
  if (b.pool !== undefined && b.pool !== null) {
    const pool = b.pool;
    if (!Array.isArray(pool) || pool.length === 0) throw new WireError(`metadata.balanced.pool must be a non-empty array of engine ids, got ${describe(pool)}`, 'ValueError');
    for (let i = 0; i < pool.length; i++) {
      if (!isCount(pool[i])) throw new WireError(`metadata.balanced.pool must be an array of engine ids (whole numbers), but element ${i} is ${describe(pool[i])}`, 'ValueError');
    }
    out.pool = [...new Set(pool as number[])];
  }
  if (b.retries !== undefined && b.retries !== null) out.retries = balancedCount(b.retries, 'retries', 0, MAX_BALANCED_RETRIES, `a whole number from 0 to ${MAX_BALANCED_RETRIES}`);
  if (b.timeout_ms !== undefined && b.timeout_ms !== null) out.timeout_ms = balancedCount(b.timeout_ms, 'timeout_ms', 1, 2 ** 31 - 1, 'a whole number of milliseconds above 0');
  if (b.after !== undefined && b.after !== null) out.after = balancedIds(b.after, 'after');
  if (b.follow !== undefined && b.follow !== null) out.follow = balancedIds(b.follow, 'follow');
  if (b.success_only !== undefined && b.success_only !== null) {
    if (typeof b.success_only !== 'boolean') throw new WireError(`metadata.balanced.success_only must be true or false, got ${describe(b.success_only)}`, 'ValueError');
    out.success_only = b.success_only;
  }
  if (b.label !== undefined && b.label !== null) {
    if (typeof b.label !== 'string' || b.label.length > MAX_LABEL) throw new WireError(`metadata.balanced.label must be a string of at most ${MAX_LABEL} characters, got ${describe(b.label)}`, 'ValueError');
    out.label = b.label;
  }
  if (b.store !== undefined && b.store !== null) {
    if (typeof b.store !== 'boolean') throw new WireError(`metadata.balanced.store must be true or false, got ${describe(b.store)}`, 'ValueError');
    out.store = b.store;
  }
  if (b.kernel !== undefined && b.kernel !== null) out.kernel = kernel(b.kernel, 'metadata.balanced.kernel', 'ValueError');
  if (b.direct !== undefined && b.direct !== null) out.direct = directOutcomes(b.direct);
  if (b.map !== undefined && b.map !== null) {
    const m = mapOf({ balanced: b });
    if (m === undefined || m.items < 0 || m.chunk < 1) throw new WireError(`metadata.balanced.map must be {id: a string of at most ${MAX_MAP_ID} characters, items: a whole number, chunk: a whole number ≥ 1}, got ${describe(b.map)}`, 'ValueError');
    out.map = m;
  }
  return out;
}
