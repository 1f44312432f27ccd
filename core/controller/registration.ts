/**
 * An engine's registration: which id it gets (the launch it belongs to, the id it asks for,
 * or a fresh one), whether it restarts or resumes an id, whether a local engine of a
 * previous controller is adopted, and the registration_reply.
 */
import os from 'node:os';
import type { ContentMap, Message } from '../protocol/messages.js';
import { describe, checkContent } from '../protocol/validate.js';
import type { Connection } from '../transport/connection.js';
import { isAlive } from '../util/processes.js';
import { EngineRecord, type Registration } from './engineRecord.js';
import type { EngineSets } from './engineSets.js';
import type { EngineRegistry } from './engineRegistry.js';
import { AdoptedProcess, launchSpec, type EngineProcess } from './localLauncher.js';
import { log } from './log.js';
import type { ControllerOptions } from './options.js';
import type { Replier } from './replies.js';
import type { Supervisor } from './supervisor.js';

export interface RegistrationDeps {
  readonly registry: Pick<EngineRegistry, 'live' | 'get' | 'idFreeFor' | 'freshId' | 'remove' | 'add'>;
  readonly supervisor: Pick<Supervisor, 'markDead' | 'launchFor' | 'launched'>;
  readonly sets: Pick<EngineSets, 'claim' | 'registered'>;
  readonly replier: Replier;
  readonly opts: ControllerOptions;
  isShuttingDown(): boolean;
}

/** Registers the engine behind `conn`; null (after an error reply, with the connection closed) when refused. */
export function register(d: RegistrationDeps, conn: Connection, msg: Message): EngineRecord | null {
  const refuse = (why: string) => {
    log.warn(`registration refused: ${why}`);
    d.replier.error(conn, msg.header, 'registration_reply', 'RegistrationError', why);
    conn.close();
    return null;
  };
  if (d.isShuttingDown()) return refuse('the controller is shutting down');
  let c: ContentMap['registration_request'];
  try {
    c = checkContent('registration_request', msg.content);
  } catch (e) {
    return refuse((e as Error).message);
  }
  const { registry, supervisor } = d;
  const resumed = c.resume === true;
  const same = registry.live(c.uuid);
  if (same && resumed && same.reg.pid === c.pid && same.main !== conn) {
    // The engine lost its connection before we noticed: the old one is gone, it comes back as itself.
    supervisor.markDead(same, 'registered again on a new connection', { kill: false, graceful: false, restart: false });
  } else if (same) {
    return refuse(`an engine with uuid ${c.uuid} is already registered (id ${same.id})`);
  }

  const requested = c.requested_id;
  const launch = supervisor.launchFor(c.pid, requested);
  const claimed = d.sets.claim(c.engine_set, requested);
  let id: number;
  if (launch) id = launch.id;
  else if (claimed !== undefined) id = claimed;
  else if (requested !== undefined && registry.idFreeFor(requested)) id = requested;
  else {
    if (requested !== undefined) log.warn(`requested id ${requested} is taken; giving the engine a new id`);
    id = registry.freshId();
  }

  let restarts = launch ? launch.restarts : 0;
  const old = registry.get(id);
  // The same process coming back (its connection dropped, this controller stayed): it is no restart.
  const itself = old !== undefined && !launch && resumed && old.reg.uuid === c.uuid ? old : undefined;
  if (old) {
    // Only a dead engine can be replaced (idFreeFor / launches guarantee it).
    if (old.alive) supervisor.markDead(old, 'replaced by a new registration', { kill: true, graceful: false, restart: false });
    if (!launch) restarts = itself ? old.restarts : old.restarts + 1;
    registry.remove(old);
  }

  const reg: Registration = { uuid: c.uuid, kernel: c.kernel, language_version: c.language_version, host: c.host, pid: c.pid, direct: c.direct };
  if (c.engine_set !== undefined) reg.engine_set = c.engine_set;
  // An engine that a killed controller launched here comes back: supervise it as if we had launched it.
  let adopted: EngineProcess | null = itself?.local ?? null;
  if (!launch && !adopted && resumed && c.supervised === true && reg.host === os.hostname() && isAlive(reg.pid)) {
    adopted = new AdoptedProcess(launchSpec(reg.kernel, c.executable, d.opts.python), reg.pid, isAlive);
  }
  const e = new EngineRecord(id, reg, conn, launch?.proc ?? adopted, launch ? launch.spec : (itself?.spec ?? adopted?.spec ?? null), restarts);
  if (launch?.restartReason !== undefined) e.lastRestart = { at: e.registered, reason: launch.restartReason };
  else if (itself?.lastRestart) e.lastRestart = itself.lastRestart;
  if (resumed) e.resumed = e.registered;
  const { opts } = d;
  d.replier.reply(conn, msg.header, 'registration_reply', {
    status: 'ok',
    id,
    heartbeat_ms: opts.heartbeatMs,
    reconnect_ms: opts.reconnectMs,
    max_message_bytes: opts.maxMessageBytes,
    max_output_bytes: opts.maxOutputBytes,
    // Direct requests are recorded only from the engines' reports: none wanted when nothing is recorded.
    report_tasks: opts.db !== 'none',
  });
  log.info(
    `engine ${id} ${resumed ? 're-registered, namespace intact' : 'registered'} (${reg.kernel} ${reg.language_version}, pid ${reg.pid} on ${reg.host}` +
      `${launch ? ', local' : adopted ? ', local, adopted' : ''})`,
  );
  registry.add(e);
  if (launch) supervisor.launched(launch, e);
  d.sets.registered(e);
  return e;
}

/** The live engine a heart belongs to, by the uuid of its first beat; undefined (logged) when none. */
export function heartOwner(registry: Pick<EngineRegistry, 'live'>, msg: Message, peer: string): EngineRecord | undefined {
  let uuid: string;
  try {
    uuid = checkContent('heartbeat', msg.content).uuid;
  } catch (err) {
    log.warnLimited('heart', `closing heart connection from ${peer}: ${(err as Error).message}`);
    return undefined;
  }
  const e = registry.live(uuid);
  if (!e) log.warnLimited('heart', `closing heart connection from ${peer}: no live engine with uuid ${describe(uuid)}`);
  return e;
}
