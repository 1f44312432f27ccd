/**
 * The errors a client sees. Everything an engine raises arrives as a RemoteError (or an
 * EngineError when the engine itself is gone); a call on several engines that fails on one
 * or more of them rejects with a CompositeError that holds every engine's error.
 */

import { formatBytes } from '../util/format.js';

/** An exception raised by user code on an engine, or a failure the engine reported. */
export class RemoteError extends Error {
  constructor(
    /** The engine that raised it. */
    readonly engineId: number,
    /** The wire method that failed: execute, apply, push, pull, keys or clear. */
    readonly method: string,
    /** The remote exception's class name, e.g. 'ReferenceError' or 'NameError'. */
    readonly ename: string,
    readonly evalue: string,
    readonly traceback: string[] = [],
  ) {
    super(`${ename}: ${evalue}`);
    this.name = 'RemoteError';
  }

  /** The remote traceback as one text, or `ename: evalue` when the engine sent none. */
  get remoteTraceback(): string {
    return this.traceback.length ? this.traceback.join('\n') : `${this.ename}: ${this.evalue}`;
  }
}

/** The engine died (or never existed) before it answered; the controller answers for it. */
export class EngineError extends RemoteError {
  constructor(engineId: number, method: string, evalue: string, traceback: string[] = []) {
    super(engineId, method, 'EngineError', evalue, traceback);
    this.name = 'EngineError';
  }
}

/** The request was dropped from the engine's queue by abort() before it ran. */
export class AbortError extends RemoteError {
  constructor(engineId: number, method: string, evalue = 'the request was aborted before it ran') {
    super(engineId, method, 'AbortError', evalue, []);
    this.name = 'AbortError';
  }
}

/**
 * Load-balanced tasks the controller's scheduler failed itself (docs/protocol.md section 14).
 * They are RemoteErrors, so `instanceof RemoteError` and `.ename` work as for any other failure;
 * engineId is where the task last ran, or -1 when it never ran.
 */
/** No engine started the task within its timeoutMs. */
export class TaskTimeout extends RemoteError {
  constructor(engineId: number, method: string, evalue: string, traceback: string[] = []) {
    super(engineId, method, 'TaskTimeout', evalue, traceback);
    this.name = 'TaskTimeout';
  }
}

/** The task can never run: an after/follow dependency failed (successOnly), its follow engine died, ... (evalue says which). */
export class ImpossibleDependency extends RemoteError {
  constructor(engineId: number, method: string, evalue: string, traceback: string[] = []) {
    super(engineId, method, 'ImpossibleDependency', evalue, traceback);
    this.name = 'ImpossibleDependency';
  }
}

/** No engine of the pool could import what the task requires (requireModules); evalue names each engine's reason. */
export class UnmetDependency extends RemoteError {
  constructor(engineId: number, method: string, evalue: string, traceback: string[] = []) {
    super(engineId, method, 'UnmetDependency', evalue, traceback);
    this.name = 'UnmetDependency';
  }
}

/** The error classes of enames the controller makes itself, by ename (replyDecoders.workFailure builds them). */
export const CONTROLLER_ERRORS: Readonly<Record<string, new (engineId: number, method: string, evalue: string, traceback?: string[]) => RemoteError>> = {
  EngineError,
  TaskTimeout,
  ImpossibleDependency,
  UnmetDependency,
};

/** One or more engines raised. `elist` holds each engine's RemoteError, in target order. */
export class CompositeError extends Error {
  readonly elist: RemoteError[];

  constructor(
    readonly method: string,
    elist: readonly RemoteError[],
  ) {
    super(compositeMessage(method, elist));
    this.name = 'CompositeError';
    this.elist = [...elist];
  }

  /** Throws the i-th engine's RemoteError, so it can be handled like a local exception. */
  raiseException(i = 0): never {
    const e = this.elist[i];
    if (e === undefined) throw new RangeError(`raiseException(${i}): this CompositeError holds ${this.elist.length} error${this.elist.length === 1 ? '' : 's'}`);
    throw e;
  }

  /** Each engine's traceback under an `[id:method]:` heading, as printTracebacks() writes it. */
  formatTracebacks(): string {
    return this.elist.map((e) => `${label(e)}:\n${e.remoteTraceback}\n`).join('\n');
  }

  /** Prints each engine's traceback to stderr (or to `write`) with an `[id:method]:` heading. */
  printTracebacks(write: (text: string) => void = (t) => void process.stderr.write(t)): void {
    write(this.formatTracebacks());
  }
}

function label(e: RemoteError): string {
  return `[${e.engineId}:${e.method}]`;
}

export function compositeMessage(method: string, elist: readonly RemoteError[]): string {
  return [`one or more exceptions from call to method: ${method}`, ...elist.map((e) => `${label(e)}: ${e.ename}: ${e.evalue}`)].join('\n');
}

/**
 * Time ran out. From get(timeoutMs): the work carries on and the result can still be awaited.
 * From a call's `timeoutMs` option: the engines in `engineIds` were interrupted (or their queued
 * request dropped); they stay up with their namespaces.
 */
export class TimeoutError extends Error {
  constructor(
    message = 'Result not ready.',
    /** The engines that had not answered (a call's timeoutMs); empty for get(timeoutMs). */
    readonly engineIds: number[] = [],
  ) {
    super(message);
    this.name = 'TimeoutError';
  }
}

/** A message is bigger than the controller's maximum message size; nothing was sent. */
export class MessageTooLargeError extends RangeError {
  constructor(
    readonly what: string,
    /** The size of the message, in bytes. */
    readonly size: number,
    /** The maximum message size, in bytes. */
    readonly limit: number,
  ) {
    super(`${what}: the message is ${formatBytes(size)}, more than the maximum message size of ${formatBytes(limit)}; nothing was sent (send it in smaller pieces, e.g. with scatter, or raise the controller's --max-message-bytes)`);
    this.name = 'MessageTooLargeError';
  }
}

export { formatBytes };

/** A controller request (status, add engines, ...) answered with an error. */
export class ControllerError extends Error {
  constructor(
    readonly request: string,
    readonly ename: string,
    readonly evalue: string,
  ) {
    super(evalue ? `${request}: ${evalue}` : `${request} failed (${ename})`);
    this.name = 'ControllerError';
  }
}

/** The connection to the controller could not be made, or was lost. */
export class ConnectionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConnectionError';
  }
}
