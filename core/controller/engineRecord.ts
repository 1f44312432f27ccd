/** Per-engine and per-client bookkeeping of the controller. */
import type { ContentMap, CurrentTask, DirectAddress, EngineInfo, EngineState, EngineStats, Header, KernelKind, MsgType } from '../protocol/messages.js';
import type { Connection } from '../transport/connection.js';
import type { ClientRecord } from './clientSession.js';
import type { EngineProcess, LaunchSpec } from './localLauncher.js';
import type { StoredResult } from './resultStore.js';

/** A request forwarded to an engine and not answered yet. One object is shared by all targets of a request. */
export interface Pending {
  readonly client: ClientRecord;
  readonly header: Header;
  readonly replyType: MsgType;
  /** The request's metadata.targets (the order results are given back in). */
  readonly targets?: readonly number[];
  /** Set once the client went away: the answers go to the controller's result store instead. */
  stored?: StoredResult;
  /** A load-balanced task (core/controller/scheduler.ts): its reply goes to the scheduler before the client. */
  readonly balanced?: true;
}

export interface Registration {
  uuid: string;
  kernel: KernelKind;
  language_version: string;
  host: string;
  pid: number;
  /** Where it accepts clients' direct connections (protocol section 13). */
  direct?: DirectAddress;
  /** The engine set that started it. */
  engine_set?: string;
}

/** How many answered routed msg_ids an engine record remembers (EngineRecord.recentlyAnswered). */
export const RECENTLY_ANSWERED = 16;

export class EngineRecord {
  state: EngineState = 'idle';
  reason: string | undefined;
  /** Set by the heart monitor after missed beats, cleared by the next beat. */
  unresponsive = false;
  heart: Connection | null = null;
  /** Date.now() of the last beat (or of registration). */
  lastBeat: number;
  /** msg_id -> pending request, for routing replies and streams. */
  readonly outstanding = new Map<string, Pending>();
  /**
   * The last RECENTLY_ANSWERED routed requests it answered (a ring): a beat sent just before a
   * reply can arrive after it, still naming that request, which is then not direct work.
   */
  readonly recentlyAnswered: string[] = [];
  readonly registered = new Date().toISOString();
  /** Set while stop_engine (or restart) is taking this engine down. */
  stopping: Promise<void> | null = null;
  /** When and why this id was last restarted; its namespace is new since then. */
  lastRestart: { at: string; reason: string } | undefined;
  /** ISO time it re-registered with a restarted controller, namespace intact. */
  resumed: string | undefined;
  /** Output accounting of the request whose streams arrive now (one runs at a time). */
  outMsgId = '';
  outChars = 0;
  outTruncated = false;
  /** Client connections whose full write buffers keep this engine's main connection paused. */
  readonly pausedFor = new Set<Connection>();
  /** The work clients sent it on direct connections, as its last engine_activity said. */
  directActivity: ContentMap['engine_activity'] = { direct_running: null, direct_queued: 0, direct_done: 0 };
  /** Results of direct requests whose client left (metadata.orphan), kept in the result store until answered. */
  readonly orphans = new Map<string, StoredResult>();
  /** directActivity.direct_running came from a heartbeat, not from a report. */
  runningFromBeat = false;
  /** Work requests answered (replies forwarded for it), kept by the work router. */
  tasksDone = 0;
  /** The routed request it runs now (its oldest unanswered one), kept by the work router. */
  current: CurrentTask | null = null;
  /** Load-balanced tasks sent to it and not answered, and when it last got one (the scheduler's counter), kept by the scheduler. */
  balanced = 0;
  lastBalanced = 0;
  /** Its own latest report of host, CPU and memory (from its heart), and Date.now() when it came. */
  stats: EngineStats | undefined;
  statsAt = 0;

  constructor(
    readonly id: number,
    readonly reg: Registration,
    readonly main: Connection,
    /** The process, when this controller launched it. */
    readonly local: EngineProcess | null,
    /** How to launch it again (local engines only). */
    readonly spec: LaunchSpec | null,
    public restarts: number,
  ) {
    this.lastBeat = Date.now();
  }

  get alive(): boolean {
    return this.state !== 'dead';
  }

  /** The state implied by heart and queue; 'dead' is final. */
  computeState(): EngineState {
    if (this.state === 'dead') return 'dead';
    if (this.unresponsive) return 'unresponsive';
    return this.queueLength > 0 ? 'busy' : 'idle';
  }

  /** The scheduler's schemes read it as a Candidate (schemes.ts): its load, and when it last got a balanced task. */
  get load(): number {
    return this.queueLength;
  }

  get lastUsed(): number {
    return this.lastBalanced;
  }

  /** Requests it has not answered yet, through the controller or on direct connections. */
  get queueLength(): number {
    const d = this.directActivity;
    return this.outstanding.size + d.direct_queued + (d.direct_running ? 1 : 0);
  }

  info(): EngineInfo {
    const info: EngineInfo = {
      id: this.id,
      uuid: this.reg.uuid,
      kernel: this.reg.kernel,
      language_version: this.reg.language_version,
      host: this.reg.host,
      pid: this.reg.pid,
      state: this.state,
      queue: this.queueLength,
      balanced: this.balanced,
      restarts: this.restarts,
      registered: this.registered,
    };
    if (this.reason !== undefined) info.reason = this.reason;
    if (this.lastRestart !== undefined) {
      info.last_restart = { ...this.lastRestart };
      info.namespace_new = true;
    }
    if (this.resumed !== undefined) info.resumed = this.resumed;
    if (this.reg.direct !== undefined) info.direct = { ...this.reg.direct };
    if (this.reg.engine_set !== undefined) info.engine_set = this.reg.engine_set;
    const d = this.directActivity;
    info.tasks_done = this.tasksDone + d.direct_done;
    const current = this.current ?? d.direct_running;
    info.current_task = this.alive && current ? { ...current } : null;
    if (this.stats !== undefined) info.stats = { ...this.stats, at: new Date(this.statsAt).toISOString() };
    return info;
  }
}
