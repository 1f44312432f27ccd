/**
 * The timing and the per-engine dictionary of an AsyncResult, computed from its slots when asked.
 * Slots keep the time strings their messages already carry and one number (when the reply came),
 * so routing a reply costs nothing here; the strings are parsed only in these functions.
 */

/** What a result's slot holds of its times. */
export interface TimedSlot {
  engineId: number;
  value: unknown;
  /** The request header's date (ISO). */
  submitted: string | undefined;
  /** From the reply's metadata (ISO), when it says so. */
  received: string | undefined;
  started: string | undefined;
  completed: string | undefined;
  /** Date.now() when this client got the reply; 0 until then. */
  resultReceivedAt: number;
}

/** The ISO string of a Date.now() value, undefined for 0 (not yet). */
export function isoTime(ms: number): string | undefined {
  return ms === 0 ? undefined : new Date(ms).toISOString();
}

/**
 * First submission to last completion, in milliseconds. A slot the engine did not time (it
 * failed before an engine answered, or the reply had no `completed`) counts by when its answer
 * reached this client. Undefined when no slot has a submission time (rc.getResult's results).
 */
export function wallTimeMs(slots: readonly TimedSlot[]): number | undefined {
  let first = Infinity;
  let last = -Infinity;
  for (const s of slots) {
    if (s.submitted !== undefined) first = Math.min(first, Date.parse(s.submitted));
    const end = s.completed !== undefined ? Date.parse(s.completed) : s.resultReceivedAt || NaN;
    if (!Number.isNaN(end)) last = Math.max(last, end);
  }
  return first === Infinity || last === -Infinity ? undefined : Math.max(0, last - first);
}

/** The sum of each engine's completed - started, in milliseconds (slots without both count 0). */
export function serialTimeMs(slots: readonly TimedSlot[]): number {
  let total = 0;
  for (const s of slots) {
    if (s.started === undefined || s.completed === undefined) continue;
    const ran = Date.parse(s.completed) - Date.parse(s.started);
    if (ran > 0) total += ran;
  }
  return total;
}

/**
 * Each engine's value by engine id. As ipyparallel's get_dict, an engine that answered several
 * of the result's slots is an error: one value per engine is the promise of the dictionary.
 */
export function engineDict(slots: readonly TimedSlot[]): Record<number, unknown> {
  const dict: Record<number, unknown> = {};
  const seen = new Set<number>();
  for (const s of slots) {
    if (seen.has(s.engineId)) {
      const n = slots.filter((t) => t.engineId === s.engineId).length;
      throw new RangeError(`getDict: engine ${s.engineId} ran ${n} of this result's ${slots.length} requests, so there is no one value per engine; read the values (await the result) or outcomes instead`);
    }
    seen.add(s.engineId);
    dict[s.engineId] = s.value;
  }
  return dict;
}
