/**
 * How the desktop app starts the controller: process.execPath is Electron there, and
 * ELECTRON_RUN_AS_NODE=1 makes it a plain node. The variable goes only to the processes this
 * spawner starts (the controller, and through its environment the engines), never to
 * Electron's own helpers, and a restarted controller gets it again.
 */
import { NodeSpawner } from '../../core/launch/spawner.js';

export class ElectronSpawner extends NodeSpawner {
  /** `pythonEngine`: where the Python engine lives when packaged (python cannot read app.asar). */
  constructor(opts: { pythonEngine?: string } = {}) {
    super({ ELECTRON_RUN_AS_NODE: '1', ...(opts.pythonEngine ? { MULTIENGINE_PYTHON_ENGINE: opts.pythonEngine } : {}) });
  }
}
