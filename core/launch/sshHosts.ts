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

/** Each host and its count (undefined: a share of the rest), in the order given. */
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
        if (!/^\d+$/.test(count) || Number(count) < 1) throw new Error(`hosts entry ${JSON.stringify(e)}: the count after ':' must be a whole number ≥ 1; ${HOW}`);
        return [e.slice(0, at).trim(), Number(count)];
      });
  }
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    return Object.entries(value).map(([host, count]): [string, number] => {
      if (typeof count !== 'number' || !Number.isInteger(count) || count < 1) throw new Error(`hosts.${host} must be a whole number of engines ≥ 1, got ${JSON.stringify(count)}`);
      return [host, count];
    });
  }
  throw new Error(`the ssh launcher needs the hosts option: ${HOW}${value === undefined ? '' : `; got ${JSON.stringify(value)}`}`);
}

/** The engines' slots: engine k of the set (id firstId + k) on its host. Throws naming the bad entry. */
export function parseHosts(value: unknown, n: number, firstId: number): EngineSlot[] {
  const list = entries(value);
  if (list.length === 0) throw new Error(`the hosts option names no host: ${HOW}`);
  const seen = new Set<string>();
  for (const [host] of list) {
    if (!HOST.test(host)) throw new Error(`hosts: ${JSON.stringify(host)} is not a host name (letters, digits, '.', '-', '_', optionally user@ before it)`);
    if (seen.has(host)) throw new Error(`hosts: ${host} is given twice; give it once with the number of its engines`);
    seen.add(host);
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
