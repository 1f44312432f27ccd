/**
 * Telling a controller that was shut down from one that was lost. A controller that shuts down
 * (a client's controller_shutdown_request, `multiengine stop`, SIGTERM) removes its connection
 * files before it closes its connections; one that crashes leaves them for its restart. So a
 * connection closed for good whose file is gone was a shutdown, not a failure. The app and the
 * console both decide by this.
 */
import fs from 'node:fs';
import type { Client } from './client.js';

export function wasShutDown(rc: Client): boolean {
  return rc.isClosed && !fs.existsSync(rc.connectionFile);
}
