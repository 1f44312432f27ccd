/**
 * Calls `fn` when `el` changes size, at most once a frame and in the frame after the change: a
 * callback that resizes what it observes (a chart, a canvas, a terminal refit) inside the
 * ResizeObserver's own delivery makes the browser report "ResizeObserver loop completed with
 * undelivered notifications" as a page error. Returns what stops it.
 */
export function watchSize(el: Element, fn: () => void): () => void {
  let frame = 0;
  const ro = new ResizeObserver(() => {
    cancelAnimationFrame(frame);
    frame = requestAnimationFrame(fn);
  });
  ro.observe(el);
  return () => {
    ro.disconnect();
    cancelAnimationFrame(frame);
  };
}

/**
 * The error event a browser raises when ResizeObserver callbacks changed sizes again within a
 * frame ("ResizeObserver loop completed with undelivered notifications", or "… limit exceeded"
 * in older engines). It is benign (the rest come in the next frame) and not the user's to see;
 * a list that measures its rows (the Events view) can cause it when its tab is shown again.
 */
export function isResizeLoopNotice(ev: Pick<ErrorEvent, 'error' | 'message'>): boolean {
  return !ev.error && typeof ev.message === 'string' && ev.message.startsWith('ResizeObserver loop');
}
