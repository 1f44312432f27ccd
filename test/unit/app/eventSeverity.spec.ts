// The Events list's severity follows the cause: main marks `requested` the controller's exit
// on request, engines stopped or shut down with it, and what follows that exit (the renderer
// shows those as ordinary events, ui/dashboard.spec.ts); a lost controller, a crashed one and
// an engine that died on its own stay errors. The rule on its own, through fakes of the client
// and the Cluster; clusterShutDown.spec.ts checks the same against a real cluster.
import os from 'node:os';
import { describe, expect, it } from 'vitest';
import { Emitter } from '../../../core/events/emitter.js';
import type { Client, Cluster, ConnectionState, ControllerEvent, EngineInfo } from '../../../core/index.js';
import { ENGINE_STOPPED_REASONS } from '../../../core/protocol/messages.js';
import type { ClusterEvent } from '../../../preload/contract.js';
import { ClusterEvents } from '../../../main/services/clusterEvents.js';

function engine(id: number, patch: Partial<EngineInfo> = {}): EngineInfo {
  return { id, uuid: `u${id}`, kernel: 'node', language_version: '22', host: 'h', pid: 100 + id, state: 'idle', queue: 0, restarts: 0, registered: '2026-01-01T00:00:00.000Z', ...patch };
}

/** A client and a Cluster as ClusterEvents sees them: what it reads, and the events it follows. */
function fakes(opts: { own: boolean; fileGone?: boolean }, ev = new ClusterEvents({ emit() {} })) {
  const engines = new Emitter<{ event: string; engine?: EngineInfo }>();
  const connection = new Emitter<ConnectionState>();
  const controller = new Emitter<ControllerEvent>();
  const rc = {
    engines: [engine(0), engine(1)],
    controllerPid: 42,
    isClosed: false,
    // wasShutDown: a closed connection whose connection file is gone was a shutdown.
    connectionFile: opts.fileGone ? '/nonexistent/multiengine-client.json' : os.tmpdir(),
    onDidChangeEngines: engines.event,
    onDidChangeConnection: connection.event,
  };
  const cluster = { onDidChangeController: controller.event };
  ev.follow(rc as unknown as Client, opts.own ? (cluster as unknown as Cluster) : null);
  const close = () => {
    rc.isClosed = true;
    connection.fire('closed');
  };
  const died = (id: number, reason: string) => engines.fire({ event: 'died', engine: engine(id, { state: 'dead', reason }) });
  return { ev, died, close, exited: (e: ControllerEvent) => controller.fire(e) };
}

/** Each event but the connection's, and whether it is part of a stop someone asked for. */
const marks = (list: ClusterEvent[]) => list.filter((e) => e.kind !== 'connected').map((e) => `${e.kind}:${e.engine ?? ''}:${e.requested ? 'requested' : 'not requested'}`);

describe('the severity of cluster events', () => {
  it("the app's own cluster shut down on request: its engines' deaths and the controller's exit are not errors", () => {
    const f = fakes({ own: true, fileGone: true });
    // As the controller does it: its engines first (with its reason), then the connection, then its exit 0.
    f.died(0, ENGINE_STOPPED_REASONS.shutdown);
    f.died(1, ENGINE_STOPPED_REASONS.shutdown);
    f.close();
    f.exited({ event: 'exited', pid: 42, reason: 'it shut down on request', requested: true });
    expect(marks(f.ev.list.list())).toEqual(['registered:0:not requested', 'registered:1:not requested', 'died:0:requested', 'died:1:requested', 'controller-exited::requested']);
    expect(f.ev.list.list().at(-1)).toMatchObject({ text: 'the controller (pid 42) exited', cause: 'it shut down on request', requested: true });
    f.ev.dispose();
  });

  it('an engine that dies after the shutdown on request is part of it, whatever its reason', () => {
    const f = fakes({ own: true, fileGone: true });
    f.exited({ event: 'exited', pid: 42, reason: 'it shut down on request', requested: true });
    f.died(0, 'process exited with code 0');
    expect(marks(f.ev.list.list()).slice(-2)).toEqual(['controller-exited::requested', 'died:0:requested']);
    f.ev.dispose();
  });

  it('an attached cluster shut down (its connection file gone): the exit and the deaths are not errors', () => {
    const f = fakes({ own: false, fileGone: true });
    f.died(0, ENGINE_STOPPED_REASONS.shutdown);
    f.close();
    expect(marks(f.ev.list.list()).slice(-2)).toEqual(['died:0:requested', 'controller-exited::requested']);
    expect(f.ev.list.list().at(-1)!.cause).toBe('it shut down and removed its connection file');
    f.ev.dispose();
  });

  it('an engine stopped on request is not an error; one killed while the cluster runs is', () => {
    const f = fakes({ own: true });
    f.died(0, ENGINE_STOPPED_REASONS.stopped);
    f.died(1, 'process killed by signal SIGKILL');
    expect(marks(f.ev.list.list()).slice(-2)).toEqual(['died:0:requested', 'died:1:not requested']);
    f.ev.dispose();
  });

  it('a crashed controller and a lost one stay errors, and so does what dies after them', () => {
    const own = fakes({ own: true });
    own.exited({ event: 'exited', pid: 42, reason: 'was killed by signal SIGKILL' });
    own.died(0, 'main connection closed');
    own.exited({ event: 'gave-up', pid: 42, reason: 'the controller was killed; not restarted' });
    expect(marks(own.ev.list.list()).slice(-3)).toEqual(['controller-exited::not requested', 'died:0:not requested', 'controller-lost::not requested']);
    own.ev.dispose();
    // An attached controller whose connection closed and whose file is still there was lost, not shut down.
    const attached = fakes({ own: false });
    attached.close();
    attached.died(1, 'no heartbeat for 1502 ms');
    expect(marks(attached.ev.list.list()).slice(-2)).toEqual(['controller-lost::not requested', 'died:1:not requested']);
    attached.ev.dispose();
  });

  it('a new connection starts afresh: a death after it is an error again', () => {
    const f = fakes({ own: true, fileGone: true });
    f.exited({ event: 'exited', pid: 42, reason: 'it shut down on request', requested: true });
    // The app starts a new cluster: the same timeline follows its client.
    const g = fakes({ own: true }, f.ev);
    g.died(0, 'process killed by signal SIGKILL');
    expect(marks(g.ev.list.list()).at(-1)).toBe('died:0:not requested');
    g.ev.dispose();
  });
});
