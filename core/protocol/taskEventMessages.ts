/**
 * The task vocabulary of the wire: a task record's statuses, and the task events the
 * controller publishes to subscribers (docs/protocol.md section 15) with their per-interval
 * overflow counts, including a load-balanced map's identity (metadata.balanced.map).
 * No runtime dependencies, like messages.ts, which re-exports all of it.
 */

/** The statuses of a task record: finished ones (ok, error, aborted), and 'pending' while engines still run it. */
export const TASK_STATUSES = ['ok', 'error', 'aborted', 'pending'] as const;
export type TaskStatus = (typeof TASK_STATUSES)[number];

/** A task event's kind: a request reached the controller, was sent to an engine, or an engine's part of it finished. */
export const TASK_EVENT_KINDS = ['submitted', 'started', 'finished'] as const;
export type TaskEventKind = (typeof TASK_EVENT_KINDS)[number];

/**
 * One step of a request the controller routes (docs/protocol.md section 15, task events).
 * 'submitted' is per request (engine_id: null); 'started' and 'finished' per engine.
 */
export interface TaskEvent {
  event: TaskEventKind;
  msg_id: string;
  /** The controller's number for the client that sent it. */
  client: number;
  msg_type: string;
  engine_id: number | null;
  balanced: boolean;
  label: string | null;
  /** submitted: the request's code (or function source, or names), first 200 characters. */
  code?: string | null;
  /** ISO time: when the controller received it (submitted), noted it sent (started), or the engine completed it (finished). */
  time: string;
  /** finished: 'ok', 'error' or 'aborted'. */
  status?: TaskStatus;
  /** finished: the engine's completed minus started, in ms (null when the engine gave no times). */
  duration_ms?: number | null;
  /** finished with an error: its name. */
  ename?: string | null;
  /** A task of a load-balanced map: which map, and its size in items (metadata.balanced.map). */
  map?: TaskMap;
}

/** metadata.balanced.map: the map a load-balanced task belongs to, so watchers can count a map's items. */
export type TaskMap = {
  /** The client's id for the map call, the same on all its tasks (at most 64 characters). */
  id: string;
  /** Items the map covers (the length of its sequences). */
  items: number;
  /** Items per task (the map's chunksize; the last task may have fewer). */
  chunk: number;
};

/** Overflowed events of one map, counted as the overflow counts all (task events, section 15). */
export interface TaskMapOverflow {
  map: TaskMap;
  submitted: number;
  started: number;
  finished: { ok: number; error: number; aborted: number };
}

/** Events of one interval past the cap, counted instead of listed. */
export interface TaskEventOverflow {
  submitted: number;
  started: number;
  /** finished, by status. */
  finished: { ok: number; error: number; aborted: number };
  /** The same counts per map, for the overflowed events of map tasks (by map id). */
  maps?: Record<string, TaskMapOverflow>;
}
