/**
 * The Profile tab's service: what an engine's main thread is inside now, and a CPU profile over
 * a few seconds (rc.engineStack / rc.engineProfile: the engine's heart answers, its work goes on).
 */
import type { EngineProfileView, EngineStackView } from '../../preload/contract.js';
import type { ClusterConnection } from './clusterConnection.js';
import { UserError } from './userError.js';

export class EngineProfileService {
  constructor(private readonly connection: Pick<ClusterConnection, 'client'>) {}

  async stack(id: number): Promise<EngineStackView> {
    return this.engine(id).engineStack(id);
  }

  async profile(id: number, seconds: number): Promise<EngineProfileView> {
    return this.engine(id).engineProfile(id, { seconds });
  }

  private engine(id: number) {
    const rc = this.connection.client();
    const e = rc.engine(id);
    if (!e) throw new UserError(`there is no engine ${id}`);
    if (e.state === 'dead') throw new UserError(`engine ${id} is dead`);
    return rc;
  }
}
