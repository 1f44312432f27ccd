/** Actions on engines of the running cluster: add, stop, restart, interrupt. */
import type { EnginesPayload } from '../../preload/contract.js';
import type { ClusterConnection } from './clusterConnection.js';
import type { EngineTable } from './engineTable.js';
import { UserError } from './userError.js';

export class EngineActions {
  constructor(
    private readonly connection: ClusterConnection,
    private readonly table: EngineTable,
  ) {}

  async addEngines(p: EnginesPayload): Promise<number[]> {
    const rc = this.connection.client();
    const cluster = this.connection.ownCluster;
    // A cluster the app started grows through the launcher it was started with.
    const ids = await this.table.whileStarting([p], () => (cluster ? cluster.addEngines(p.n, { ...this.connection.addOptions(p.n), engine: p.kind }) : rc.addEngines(p.n, { engine: p.kind })));
    await rc.status();
    return ids;
  }

  async stopEngine(id: number): Promise<void> {
    const rc = this.connection.client();
    this.known(id);
    const cluster = this.connection.ownCluster;
    if (cluster) await cluster.stopEngine(id);
    else await rc.stopEngine(id);
    await rc.status();
  }

  async restartEngine(id: number): Promise<void> {
    const rc = this.connection.client();
    this.known(id);
    const cluster = this.connection.ownCluster;
    await this.table.whileRestarting(id, async () => {
      if (cluster) await cluster.restartEngine(id);
      else await rc.restartEngine(id);
      await rc.status();
    });
  }

  async interruptEngines(ids: readonly number[]): Promise<void> {
    const rc = this.connection.client();
    for (const id of ids) this.known(id);
    await rc.view([...ids]).interrupt();
  }

  private known(id: number): void {
    if (!this.connection.client().engine(id)) throw new UserError(`there is no engine ${id}`);
  }
}
