/**
 * A driver run inside a namespace host (see ../clusterDriver.ts): it holds a Cluster (its
 * controller runs on this host) and a client of it, and answers JSON requests, one per stdin
 * line, with one JSON line each on stdout:
 *   {"id":1,"op":"start","cluster":{…ClusterOptions},"env":{…}}   → controller pid, client file, ids
 *   {"id":2,"op":"cluster","method":"engineSets","args":[]}         → what cluster.engineSets() gives
 *   {"id":3,"op":"client","method":"addEngineSet","args":[4,{…}]}   → the same on the client
 *   {"id":4,"op":"view","targets":[0,1],"method":"pull","args":["h"]} → a blocking view call
 *   {"id":5,"op":"stop"}                                            → stops the cluster, then exits
 * A failure answers {"id":…, "error": {"name", "message"}}. When stdin closes, the cluster stops.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { Cluster, type Client, type ClusterOptions } from 'multiengine';

interface Request {
  id: number;
  op: 'start' | 'cluster' | 'client' | 'view' | 'stop';
  cluster?: ClusterOptions;
  env?: Record<string, string>;
  method?: string;
  args?: unknown[];
  targets?: number | number[];
}

let cluster: Cluster | undefined;
let rc: Client | undefined;
let dir: string | undefined;

function call(target: object | undefined, what: string, method: string | undefined, args: unknown[] = []): Promise<unknown> {
  if (!target) throw new Error(`no ${what}: send start first`);
  const fn = method === undefined ? undefined : (target as Record<string, unknown>)[method];
  if (typeof fn !== 'function') throw new Error(`${what} has no method ${JSON.stringify(method)}`);
  return Promise.resolve((fn as (...a: unknown[]) => unknown).apply(target, args));
}

async function stop(): Promise<void> {
  rc?.close();
  await cluster?.stop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
  cluster = rc = dir = undefined;
}

async function handle(req: Request): Promise<unknown> {
  switch (req.op) {
    case 'start': {
      // OpenMPI's settings (root, oversubscribe) must be in the controller's environment, which it inherits.
      Object.assign(process.env, req.env ?? {});
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'me-hosts-cluster-'));
      cluster = await Cluster.start({ dir, profile: 'hosts', heartbeatMs: 200, deadAfterMs: 3000, ...req.cluster });
      rc = await cluster.connect();
      return { controllerPid: cluster.controllerPid, clientFile: cluster.connectionFile, ids: cluster.ids, hostname: os.hostname() };
    }
    case 'cluster':
      return call(cluster, 'cluster', req.method, req.args);
    case 'client':
      return call(rc, 'client', req.method, req.args);
    case 'view':
      return call(rc?.view(req.targets), 'view', req.method, [...(req.args ?? []), { block: true }]);
    case 'stop':
      await stop();
      return { stopped: true };
  }
}

const lines = readline.createInterface({ input: process.stdin });
const answer = (o: unknown) => process.stdout.write(`${JSON.stringify(o)}\n`);
lines.on('line', (line) => {
  let req: Request;
  try {
    req = JSON.parse(line) as Request;
  } catch {
    answer({ id: -1, error: { name: 'SyntaxError', message: `not JSON: ${line}` } });
    return;
  }
  handle(req).then(
    (value) => {
      answer({ id: req.id, value: value ?? null });
      if (req.op === 'stop') process.exit(0);
    },
    (e: Error) => answer({ id: req.id, error: { name: e.name, message: e.message } }),
  );
});
lines.on('close', () => {
  void stop().finally(() => process.exit(0));
});
