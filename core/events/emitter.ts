/**
 * One small event emitter for the whole codebase, in VS Code's style: a source owns an
 * Emitter and exposes `onDidX = emitter.event`; a listener gets a Disposable back. A listener
 * that throws is reported to `onListenerError` and never stops the others or the emitter's owner.
 */

export interface Disposable {
  dispose(): void;
}

/** Subscribes `listener`; dispose the result to unsubscribe. */
export type Event<T> = (listener: (e: T) => void) => Disposable;

export class Emitter<T> {
  // Copied on write, so a listener that subscribes or disposes while firing is safe.
  private listeners: ((e: T) => void)[] = [];
  private disposed = false;

  constructor(private readonly onListenerError: (err: unknown) => void = () => {}) {}

  /** The public face: `readonly onDidChange = this.changed.event`. */
  readonly event: Event<T> = (listener) => {
    if (this.disposed) return { dispose() {} };
    this.listeners = [...this.listeners, listener];
    return {
      dispose: () => {
        this.listeners = this.listeners.filter((l) => l !== listener);
      },
    };
  };

  fire(e: T): void {
    for (const l of this.listeners) {
      try {
        l(e);
      } catch (err) {
        this.onListenerError(err);
      }
    }
  }

  get hasListeners(): boolean {
    return this.listeners.length > 0;
  }

  /** Drops every listener; later subscriptions are ignored. */
  dispose(): void {
    this.disposed = true;
    this.listeners = [];
  }
}

/** Resolves with the first event that passes `filter`, or undefined after `timeoutMs`. */
export function nextEvent<T>(event: Event<T>, filter: (e: T) => boolean = () => true, timeoutMs?: number): Promise<T | undefined> {
  return new Promise((resolve) => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const sub = event((e) => {
      if (!filter(e)) return;
      clearTimeout(timer);
      sub.dispose();
      resolve(e);
    });
    if (timeoutMs !== undefined) {
      timer = setTimeout(() => {
        sub.dispose();
        resolve(undefined);
      }, timeoutMs);
    }
  });
}
