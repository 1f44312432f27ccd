/**
 * Keeps one client's requests to one engine in the order they were made although two paths
 * lead there (protocol section 13): the controller, and a direct connection. An engine has
 * requests of this client in flight on at most one path at a time. A single-engine request
 * takes the direct path only when nothing of ours is in flight to that engine through the
 * controller; a multi-engine request (controller only) waits while direct requests of ours
 * are in flight to any of its engines, and so does everything made after it for those engines.
 */
export type Path = 'direct' | 'controller';

interface InFlight {
  path: Path;
  count: number;
}

export interface HeldRequest {
  readonly targets: readonly number[];
}

export class PathGate<H extends HeldRequest> {
  private readonly inFlight = new Map<number, InFlight>();
  private held: H[] = [];

  /** May a request to `engine` go on `path` now (without overtaking anything of ours)? */
  allows(engine: number, path: Path): boolean {
    const f = this.inFlight.get(engine);
    return f === undefined || f.path === path;
  }

  /** Must a request for these engines wait behind held ones? */
  isBlocked(targets: readonly number[]): boolean {
    if (this.held.length === 0) return false;
    return this.held.some((h) => h.targets.some((t) => targets.includes(t)));
  }

  hold(h: H): void {
    this.held.push(h);
  }

  /** Drops a held request (timed out, or its client is closing); false when it was not held. */
  unhold(h: H): boolean {
    const i = this.held.indexOf(h);
    if (i < 0) return false;
    this.held.splice(i, 1);
    return true;
  }

  sent(targets: readonly number[], path: Path): void {
    for (const t of targets) {
      const f = this.inFlight.get(t);
      if (f === undefined) this.inFlight.set(t, { path, count: 1 });
      else f.count++;
    }
  }

  /**
   * `engine` answered one request (or it will never answer). Returns the held requests that
   * may go now, in order, and forgets them; the caller sends them.
   */
  answered(engine: number): H[] {
    const f = this.inFlight.get(engine);
    if (f !== undefined && --f.count <= 0) this.inFlight.delete(engine);
    return this.release();
  }

  private release(): H[] {
    if (this.held.length === 0) return [];
    const ready: H[] = [];
    const keep: H[] = [];
    const blocked = new Set<number>();
    for (const h of this.held) {
      const free = h.targets.every((t) => !blocked.has(t) && (h.targets.length === 1 || this.allows(t, 'controller')));
      if (free) ready.push(h);
      else {
        keep.push(h);
        for (const t of h.targets) blocked.add(t);
      }
    }
    this.held = keep;
    return ready;
  }
}
