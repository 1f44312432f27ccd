/**
 * The ssh launcher's `hosts` option: `{ hostb: 2, hostc: 2 }` or `"hostb:2,hostc:2"`, turned
 * into one slot (host, engine id) per engine, hosts in the order given. A host written without
 * a count ("hostb,hostc") takes an even share of the engines the counted ones leave.
 */

export interface EngineSlot {
  readonly host: string;
  readonly id: number;
}

const HOW = 'give hosts as { hostb: 2, hostc: 2 } or "hostb:2,hostc:2"';
/** A host as ssh takes it: a name or address, optionally user@; never an option (a leading '-') nor shell syntax. */
const HOST = /^(?:[\w.-]+@)?[A-Za-z0-9_][\w.-]*$/;

/** Each host and its count (undefined: not given), in the order given. */
function entries(value: unknown): [string, number | undefined][] {
  if (typeof value === 'string') {
    return value
      .split(',')
      .map((e) => e.trim())
      .filter(Boolean)
      .map((e): [string, number | undefined] => {
        const at = e.lastIndexOf(':');
        if (at < 0) return [e, undefined];
        const count = e.slice(at + 1).trim();
        if (!/^\d+$/.test(count) || Number(count) < 1) throw new Error(`${JSON.stringify(e)}: the count after ':' must be a whole number ≥ 1`);
        return [e.slice(0, at).trim(), Number(count)];
      });
  }
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    return Object.entries(value).map(([host, count]): [string, number] => {
      if (typeof count !== 'number' || !Number.isInteger(count) || count < 1) throw new Error(`${host} must be a whole number of engines ≥ 1, got ${JSON.stringify(count)}`);
      return [host, count];
    });
  }
  throw new Error(`${HOW}${value === undefined ? '' : `; got ${JSON.stringify(value)}`}`);
}

/**
 * The one reading of a hosts list, for the launcher, `--ssh-hosts` and the app's form: each host
 * and its count (undefined where none was written), in the order given. Throws naming the bad
 * entry, in words each caller prefixes with where the list came from.
 */
export function hostEntries(value: unknown): [string, number | undefined][] {
  const list = entries(value);
  if (list.length === 0) throw new Error(`no host is named; ${HOW}`);
  const seen = new Set<string>();
  for (const [host] of list) {
    if (!HOST.test(host)) throw new Error(`${JSON.stringify(host)} is not a host name (letters, digits, '.', '-', '_', optionally user@ before it)`);
    if (seen.has(host)) throw new Error(`${host} is given twice; give it once with the number of its engines`);
    seen.add(host);
  }
  return list;
}

/** Where the engine count comes from the hosts (the CLI, the app's form): a host without a count runs one engine. */
export function hostCounts(value: unknown): { [host: string]: number } {
  const counts: { [host: string]: number } = {};
  for (const [host, c] of hostEntries(value)) counts[host] = c ?? 1;
  return counts;
}

/** The engines' slots: engine k of the set (id firstId + k) on its host. Throws naming the bad entry. */
export function parseHosts(value: unknown, n: number, firstId: number): EngineSlot[] {
  if (value === undefined) throw new Error(`the ssh launcher needs the hosts option: ${HOW}`);
  let list: [string, number | undefined][];
  try {
    list = hostEntries(value);
  } catch (e) {
    throw new Error(`hosts option: ${(e as Error).message}`);
  }
  const counted = list.reduce((sum, [, c]) => sum + (c ?? 0), 0);
  const shares = list.filter(([, c]) => c === undefined).length;
  const shown = list.map(([h, c]) => (c === undefined ? h : `${h}:${c}`)).join(',');
  if (shares === 0 && counted !== n) throw new Error(`hosts ${shown} make ${counted} engine${counted === 1 ? '' : 's'}, but ${n} ${n === 1 ? 'was' : 'were'} asked for`);
  if (shares > 0 && n - counted < shares) throw new Error(`hosts ${shown}: ${n} engines leave ${Math.max(0, n - counted)} for the ${shares} host${shares === 1 ? '' : 's'} without a count`);
  const rest = n - counted;
  const slots: EngineSlot[] = [];
  let share = 0;
  for (const [host, c] of list) {
    // The first hosts without a count take one more when the rest does not divide evenly.
    const count = c ?? Math.floor(rest / shares) + (share++ < rest % shares ? 1 : 0);
    for (let k = 0; k < count; k++) slots.push({ host, id: firstId + slots.length });
  }
  return slots;
}
