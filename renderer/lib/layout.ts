/**
 * The layout's remembered choices (panel sizes, chosen tabs) in localStorage, and the rule a
 * drag handle follows. Storage may be missing or full (a private window): the defaults apply.
 */
import type { Snippet } from 'svelte';

/** A tab of a tab host: its id (remembered), its title, what it shows. */
export interface Tab {
  id: string;
  title: string;
  content: Snippet;
}

const PREFIX = 'multiengine:layout:';

export function loadSetting<T extends string | number>(key: string, fallback: T): T {
  try {
    const raw = window.localStorage.getItem(PREFIX + key);
    if (raw === null) return fallback;
    if (typeof fallback === 'number') {
      const n = Number(raw);
      return (Number.isFinite(n) ? n : fallback) as T;
    }
    return raw as T;
  } catch {
    return fallback;
  }
}

export function saveSetting(key: string, value: string | number): void {
  try {
    window.localStorage.setItem(PREFIX + key, String(value));
  } catch {
    // Not kept: the size or tab lasts until the window closes.
  }
}

/**
 * The share of a container the first pane gets when the handle is at `pos` (pixels from the
 * container's start, whose length is `length`), kept so that each pane has at least `minPx`.
 */
export function splitAt(pos: number, length: number, minPx: number): number {
  if (length <= 2 * minPx) return 0.5;
  return Math.min(length - minPx, Math.max(minPx, pos)) / length;
}
