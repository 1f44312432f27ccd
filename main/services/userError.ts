/**
 * Errors as the user reads them. A UserError may name the form field it is about (in the
 * words the UI shows: "name", "value", "profile", "engines"), so the renderer can show it
 * next to that field instead of in a toast.
 */
import { CompositeError, RemoteError } from '../../core/index.js';
import type { TaskFailure } from './taskLog.js';

/** The fields an error can be about, as the forms label them. */
export type UserField = 'name' | 'value' | 'profile' | 'engines' | 'code' | 'kind' | 'launcher' | 'mpiArgs' | 'sshHosts' | 'sshCommand' | 'slurmPartition' | 'slurmTime' | 'slurmAccount';

export class UserError extends Error {
  constructor(
    message: string,
    readonly field?: UserField,
  ) {
    super(message);
    this.name = 'Error';
  }
}

export function failureOf(e: unknown): TaskFailure {
  if (e instanceof RemoteError) return { ename: e.ename, evalue: e.evalue, traceback: [...e.traceback] };
  const err = e as { name?: string; message?: string } | null;
  return { ename: err?.name ?? 'Error', evalue: err?.message ?? String(e), traceback: [] };
}

/** Per-engine failures as one line each ("engine 0: NameError: …"), without the client's wording of the call. */
export function describeError(e: unknown): string {
  if (e instanceof CompositeError) return e.elist.map((x) => `engine ${x.engineId}: ${x.ename}: ${x.evalue}`).join('\n');
  if (e instanceof RemoteError) return `engine ${e.engineId}: ${e.ename}: ${e.evalue}`;
  return (e as Error)?.message ?? String(e);
}
