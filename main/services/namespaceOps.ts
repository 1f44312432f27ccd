/**
 * What the inspectors do on the engines' namespaces: list them (with a description of each
 * name), pull, push, scatter, gather, and run code. Every request made for the user becomes a
 * task in the history; the listing's own probes do not (they are counted apart, so the
 * engine table's "done" shows the user's work only).
 */
import { AbortError, CompositeError, RemoteError, type AsyncResult, type ExecuteResult } from '../../core/index.js';
import type { EngineValue, GatherResult, NamespaceEntry, NamespaceListing, PullResult, TaskRecord, ValuePayload } from '../../preload/contract.js';
import type { ClusterConnection } from './clusterConnection.js';
import type { EngineTable } from './engineTable.js';
import { parseValue } from './parseValue.js';
import { languageOrDefault } from '../../core/kernels/index.js';
import type { Task, TaskLog } from './taskLog.js';
import { describeError, failureOf, UserError } from './userError.js';
import { toValueView } from './valueView.js';

const MAX_NAMES = 2000;

/** One name as a probe describes it. `json`: the value as JSON when it is small and plain, to compare across languages. */
type Described = Pick<NamespaceEntry, 'name' | 'type' | 'shape' | 'length' | 'bytes' | 'repr'> & { json?: string | null };

/** The value in a form both languages agree on (key order, 1 vs 1.0, True vs true), or null. */
function canonical(d: Described): string | null {
  if (typeof d.json !== 'string') return null;
  try {
    return JSON.stringify(JSON.parse(d.json));
  } catch {
    return null;
  }
}

function shorten(source: string): string {
  return source.length > 200 ? `${source.slice(0, 197)}...` : source;
}

export class NamespaceOps {
  constructor(
    private readonly connection: ClusterConnection,
    private readonly table: EngineTable,
    readonly tasks: TaskLog,
  ) {}

  /** `[]` means every live engine; otherwise the ids as given (unknown ones are refused). */
  private targets(ids: readonly number[]): number[] {
    const rc = this.connection.client();
    if (ids.length === 0) {
      const live = rc.ids;
      if (live.length === 0) throw new UserError('no engines are running');
      return live;
    }
    for (const id of ids) if (!rc.engine(id)) throw new UserError(`there is no engine ${id}`);
    return [...ids];
  }

  async listNamespace(targets: readonly number[]): Promise<NamespaceListing> {
    const rc = this.connection.client();
    const ids = this.targets(targets);
    const errors: NamespaceListing['errors'] = [];
    const per = await Promise.all(
      ids.map(async (id): Promise<{ id: number; kernel: string; items: Described[] } | null> => {
        const kernel = rc.engine(id)?.kernel ?? 'node';
        try {
          this.table.countOwnRequests(id, 1);
          const names = (await rc.view(id).keys()).slice(0, MAX_NAMES);
          if (names.length === 0) return { id, kernel, items: [] };
          this.table.countOwnRequests(id, 1);
          const items = (await rc.view(id).applySync(languageOrDefault(kernel).describeNames, names)) as Described[];
          return { id, kernel, items: Array.isArray(items) ? items : [] };
        } catch (e) {
          const f = failureOf(e);
          errors.push({ engineId: id, ename: f.ename, evalue: f.evalue });
          return null;
        }
      }),
    );
    const byName = new Map<string, { entry: NamespaceEntry; first: Described; kernel: string }>();
    for (const r of per) {
      if (!r) continue;
      for (const d of r.items) {
        if (!d || typeof d.name !== 'string') continue;
        const have = byName.get(d.name);
        if (!have) {
          const entry: NamespaceEntry = {
            name: d.name,
            type: String(d.type),
            shape: Array.isArray(d.shape) ? d.shape.map(Number) : null,
            length: typeof d.length === 'number' ? d.length : null,
            bytes: typeof d.bytes === 'number' ? d.bytes : null,
            repr: String(d.repr ?? ''),
            engines: [r.id],
            differs: false,
          };
          byName.set(d.name, { entry, first: d, kernel: r.kernel });
        } else {
          have.entry.engines.push(r.id);
          if (!have.entry.differs && this.differ(have.first, have.kernel, d, r.kernel)) have.entry.differs = true;
        }
      }
    }
    const entries = [...byName.values()].map((x) => x.entry).sort((a, b) => a.name.localeCompare(b.name));
    for (const e of entries) e.engines.sort((a, b) => a - b);
    errors.sort((a, b) => a.engineId - b.engineId);
    return { targets: ids, entries, errors };
  }

  /** Values are compared, not their reprs: `[1, 2]` on node and `[1,2]` on Python are the same list. */
  private differ(a: Described, ka: string, b: Described, kb: string): boolean {
    const ca = canonical(a);
    const cb = canonical(b);
    if (ca !== null && cb !== null) return ca !== cb;
    // Without a comparable form, reprs and type names only mean something within one language.
    if (ka !== kb) return ca !== null || cb !== null;
    return String(a.type) !== String(b.type) || String(a.repr ?? '') !== String(b.repr ?? '');
  }

  async pull(name: string, targets: readonly number[]): Promise<PullResult> {
    const rc = this.connection.client();
    const ids = this.targets(targets);
    const task = this.tasks.begin('pull', `pull ${name}`, ids);
    const values = await Promise.all(
      ids.map(async (id, i): Promise<EngineValue> => {
        const r = rc.view(id).pull(name) as AsyncResult<unknown>;
        this.tasks.track(task, i, () => r.msgIds[0]);
        try {
          const v = await r;
          task.settle(i, {}, r.metadata[0]);
          return { engineId: id, ok: true, value: toValueView(v) };
        } catch (e) {
          const f = failureOf(e);
          task.fail(i, f, r.metadata[0]);
          return { engineId: id, ok: false, error: { ename: f.ename, evalue: f.evalue } };
        }
      }),
    );
    return { name, values };
  }

  async push(p: ValuePayload): Promise<TaskRecord> {
    const rc = this.connection.client();
    const ids = this.targets(p.targets);
    const value = parseValue(p.source, p.format);
    const task = this.tasks.begin('push', `push ${p.name} = ${shorten(p.source)}`, ids);
    return this.broadcast(task, () => rc.view(ids).push({ [p.name]: value }, { block: false }));
  }

  async scatter(p: ValuePayload): Promise<TaskRecord> {
    const rc = this.connection.client();
    const ids = this.targets(p.targets);
    const value = parseValue(p.source, p.format);
    if (!Array.isArray(value) && !(ArrayBuffer.isView(value) && !(value instanceof DataView))) {
      throw new UserError(`scatter needs a sequence (an array or a typed array) to split across the engines; the value is ${value === null ? 'null' : typeof value}`, 'value');
    }
    const task = this.tasks.begin('scatter', `scatter ${p.name} = ${shorten(p.source)}`, ids);
    return this.broadcast(task, () => rc.view(ids).scatter(p.name, value as unknown[], { block: false }));
  }

  async gather(name: string, targets: readonly number[]): Promise<GatherResult> {
    const rc = this.connection.client();
    const ids = this.targets(targets);
    const task = this.tasks.begin('gather', `gather ${name}`, ids);
    const r = rc.view(ids).gather(name, { block: false });
    await this.finishBroadcast(task, r);
    const o = await r.then(
      (v) => ({ ok: true as const, v }),
      (e: unknown) => ({ ok: false as const, e }),
    );
    if (!o.ok) throw new UserError(`cannot gather ${name}:\n${describeError(o.e)}`, 'name');
    return { name, value: toValueView(o.v) };
  }

  execute(code: string, targets: readonly number[]): TaskRecord {
    const rc = this.connection.client();
    const ids = this.targets(targets);
    const task = this.tasks.begin('execute', code, ids);
    ids.forEach((id, i) => {
      let r: AsyncResult<ExecuteResult>;
      try {
        r = rc.view(id).execute(code, { block: false });
      } catch (e) {
        task.fail(i, failureOf(e));
        return;
      }
      this.tasks.track(task, i, () => r.msgIds[0]);
      r.onDidReceiveOutput((ev) => task.output(i, ev.name, ev.text));
      r.then(
        (v) => task.settle(i, { executionCount: v.executionCount, result: v.result ?? null, stdout: v.stdout, stderr: v.stderr }, r.metadata[0]),
        (e: unknown) => task.fail(i, failureOf(e), r.metadata[0], e instanceof AbortError),
      );
    });
    return task.snapshot();
  }

  /** Sends one request to several engines as `task`, and fills the task from its result. */
  private async broadcast(task: Task, send: () => AsyncResult<unknown>): Promise<TaskRecord> {
    let r: AsyncResult<unknown>;
    try {
      r = send();
    } catch (e) {
      task.failAll(failureOf(e));
      throw e;
    }
    await this.finishBroadcast(task, r);
    return task.snapshot();
  }

  /** Fills a task from a broadcast result: per-engine state and times, errors by engine. */
  private async finishBroadcast(task: Task, r: AsyncResult<unknown>): Promise<void> {
    r.engineIds.forEach((_, i) => this.tasks.track(task, i, () => r.msgIds[i]));
    await r.wait();
    const errors = new Map<number, RemoteError>();
    const err = r.error;
    if (err instanceof CompositeError) for (const x of err.elist) errors.set(x.engineId, x);
    else if (err instanceof RemoteError) errors.set(err.engineId, err);
    r.metadata.forEach((m, i) => {
      const e = errors.get(m.engineId);
      if (m.status === 'ok') task.settle(i, {}, m);
      else task.fail(i, e ? failureOf(e) : failureOf(err), m, m.status === 'aborted');
    });
    if (!r.successful() && errors.size === 0 && err !== undefined) task.failAll(failureOf(err));
  }
}
