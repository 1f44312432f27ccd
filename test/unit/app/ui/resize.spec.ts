// Size watching in the renderer: callbacks come once a frame, after the change; the browser's
// benign resize-loop notice is told apart from real page errors (which the app shows as toasts).
import { describe, expect, it, vi } from 'vitest';
import { isResizeLoopNotice, watchSize } from '../../../../renderer/lib/resize';

describe('watchSize', () => {
  it('calls back once per frame however many changes came, and not after it is stopped', async () => {
    let deliver: ResizeObserverCallback = () => {};
    const observed: Element[] = [];
    let disconnected = false;
    vi.stubGlobal(
      'ResizeObserver',
      class {
        constructor(cb: ResizeObserverCallback) {
          deliver = cb;
        }
        observe(el: Element) {
          observed.push(el);
        }
        disconnect() {
          disconnected = true;
        }
      },
    );
    try {
      const el = document.createElement('div');
      const fn = vi.fn();
      const stop = watchSize(el, fn);
      expect(observed).toEqual([el]);
      deliver([], {} as ResizeObserver);
      deliver([], {} as ResizeObserver);
      expect(fn).not.toHaveBeenCalled(); // not inside the observer's delivery
      await new Promise((r) => requestAnimationFrame(() => r(null)));
      expect(fn).toHaveBeenCalledTimes(1);
      deliver([], {} as ResizeObserver);
      stop();
      await new Promise((r) => requestAnimationFrame(() => r(null)));
      expect(fn).toHaveBeenCalledTimes(1);
      expect(disconnected).toBe(true);
    } finally {
      vi.unstubAllGlobals();
    }
  });
});

describe('isResizeLoopNotice', () => {
  it("is the browser's resize-loop notice only, not an error thrown by code", () => {
    expect(isResizeLoopNotice({ error: null, message: 'ResizeObserver loop completed with undelivered notifications.' })).toBe(true);
    expect(isResizeLoopNotice({ error: null, message: 'ResizeObserver loop limit exceeded' })).toBe(true);
    expect(isResizeLoopNotice({ error: new Error('ResizeObserver loop'), message: 'ResizeObserver loop' })).toBe(false);
    expect(isResizeLoopNotice({ error: null, message: 'Script error.' })).toBe(false);
  });
});
