// happy-dom lays nothing out, and virtua sizes its viewport and rows from ResizeObserver
// entries: this observer reports the scroller (data-testid=engine-rows) at `height` and each
// row at 28 px, as a browser would after layout.
import { render } from '@testing-library/svelte';
import { tick } from 'svelte';
import EngineTable from '../../../../renderer/components/EngineTable.svelte';

export function stubViewport(width = 900, height = 400): () => void {
  const real = window.ResizeObserver;
  class SizedObserver {
    constructor(private readonly cb: ResizeObserverCallback) {}
    observe(target: Element): void {
      const h = target.getAttribute('data-testid') === 'engine-rows' ? height : 28;
      // virtua measures only laid-out rows (offsetParent set), which happy-dom never has.
      if (!(target as HTMLElement).offsetParent) Object.defineProperty(target, 'offsetParent', { value: target.parentElement, configurable: true });
      queueMicrotask(() => this.cb([{ target, contentRect: { width, height: h } } as unknown as ResizeObserverEntry], this as unknown as ResizeObserver));
    }
    unobserve(): void {}
    disconnect(): void {}
  }
  window.ResizeObserver = SizedObserver as unknown as typeof ResizeObserver;
  return () => {
    window.ResizeObserver = real;
  };
}

/** The engine table, rendered and measured (its rows in view are in the DOM). */
export async function renderTable() {
  const restore = stubViewport();
  try {
    const r = render(EngineTable);
    // virtua makes its one observer once mounted; it keeps that one.
    for (let i = 0; i < 3; i++) {
      await Promise.resolve();
      await tick();
    }
    return r;
  } finally {
    restore();
  }
}
