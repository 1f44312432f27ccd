/**
 * A load-balanced task's after/follow, as the controller needs them. Load-balanced tasks are
 * named by msg_id: the scheduler knows how they ended. Direct requests (a DirectView's results)
 * never pass the scheduler, and may not pass the controller at all (direct connections), so the
 * client, which sees them end, says how: the task waits here until they have finished, then goes
 * with their outcomes (metadata.balanced.direct). Nothing is recorded on the direct path.
 */
import type { DirectOutcome } from '../protocol/messages.js';
import { AsyncResult } from './asyncResult.js';
import { show } from './validate.js';

/** What a task may depend on: results (every request of them) or msg_ids. */
export type Dependency = AsyncResult<unknown> | string | readonly (AsyncResult<unknown> | string)[];

export interface TaskDependencies {
  after?: string[];
  follow?: string[];
  /** As given (read again when the task goes: a task it names may have been held too). */
  readonly given: { after?: Dependency; follow?: Dependency };
  /** Results of direct requests among them: their outcomes go with the task. */
  direct: AsyncResult<unknown>[];
  /** What must happen before the task is sent (direct requests finishing, held tasks being sent); null: nothing. */
  hold: Promise<unknown> | null;
}

/** Results whose tasks wait in this client (for direct dependencies): settled once they were sent. */
const held = new WeakMap<AsyncResult<unknown>, Promise<void>>();

export function isHeld(result: AsyncResult<unknown>): boolean {
  return held.has(result);
}

/** The msg_ids of dependencies: AsyncResults (every request of them) or msg_id strings; throws naming `what`. */
export function msgIdsOf(what: string, dep: Dependency): string[] {
  const out: string[] = [];
  for (const d of listOf(what, dep)) {
    if (typeof d === 'string') out.push(d);
    else out.push(...d.msgIds.filter((m) => m !== ''));
  }
  return [...new Set(out)];
}

function listOf(what: string, dep: Dependency): (AsyncResult<unknown> | string)[] {
  const list = (Array.isArray(dep) ? dep : [dep]) as (AsyncResult<unknown> | string)[];
  for (const d of list) if (!((typeof d === 'string' && d !== '') || d instanceof AsyncResult)) throw new TypeError(`${what}: expected AsyncResults or msg_id strings, got ${show(d)}`);
  return list;
}

/** after/follow of a call, sorted out: what the controller is told, and what the task waits for here. */
/** `unfinished(msgId)`: this client's unfinished result for a msg_id, so a direct request named by msg_id is waited for too. */
export function taskDependencies(method: string, after: Dependency | undefined, follow: Dependency | undefined, unfinished: (msgId: string) => AsyncResult<unknown> | undefined): TaskDependencies {
  const direct = new Set<AsyncResult<unknown>>();
  const waits: Promise<unknown>[] = [];
  const ids = (what: string, dep: Dependency | undefined): string[] | undefined => {
    if (dep === undefined) return undefined;
    const list = listOf(`${method}: ${what}`, dep);
    for (const item of list) {
      const d = typeof item === 'string' ? unfinished(item) : item;
      if (d === undefined) continue;
      const sent = held.get(d);
      if (sent !== undefined) waits.push(sent);
      if (!d.loadBalanced) {
        direct.add(d);
        if (!d.ready()) waits.push(d.wait());
      }
    }
    return msgIdsOf(`${method}: ${what}`, list);
  };
  const a = ids('after', after);
  const f = ids('follow', follow);
  const out: TaskDependencies = { given: { after, follow }, direct: [...direct], hold: null };
  if (a) out.after = a;
  if (f) out.follow = f;
  if (waits.length > 0) out.hold = Promise.all(waits);
  return out;
}

/**
 * Runs `send` once the dependencies allow it (at once when nothing is held), after putting the
 * outcomes of the direct requests, and the msg_ids of held tasks now sent, into the spec.
 */
export function holdUntil(result: AsyncResult<unknown>, deps: TaskDependencies, spec: { after?: string[]; follow?: string[]; direct?: DirectOutcome[] }, send: () => void): Promise<void> {
  const go = () => {
    if (deps.direct.length > 0) spec.direct = deps.direct.flatMap(directOutcomes);
    if (deps.hold !== null) {
      const { after, follow } = deps.given;
      if (after !== undefined) spec.after = msgIdsOf('after', after);
      if (follow !== undefined) spec.follow = msgIdsOf('follow', follow);
    }
    send();
  };
  if (deps.hold === null) {
    go();
    return Promise.resolve();
  }
  const sent = deps.hold.then(go);
  held.set(result, sent);
  return sent.finally(() => held.delete(result));
}

/** How a finished direct result's requests ended: one outcome per msg_id. */
function directOutcomes(r: AsyncResult<unknown>): DirectOutcome[] {
  const by = new Map<string, DirectOutcome>();
  for (const m of r.metadata) {
    if (m.msgId === '') continue;
    let o = by.get(m.msgId);
    if (o === undefined) by.set(m.msgId, (o = { msg_id: m.msgId, ok: true, engines: [] }));
    o.engines.push(m.engineId);
    if (m.status !== 'ok') o.ok = false;
  }
  return [...by.values()];
}
