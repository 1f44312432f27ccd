/**
 * Controller process entry: `node dist/core/controller/main.js [flags]`.
 * Prints exactly one line on stdout once it listens and its connection files exist:
 *   {"event":"ready","port":N,"client_file":"...","engine_file":"...","pid":N}
 * Everything else goes to stderr. SIGTERM/SIGINT or controller_shutdown_request stop
 * every engine, remove the connection files and exit 0.
 */
import { Controller } from './controller.js';
import { log } from './log.js';
import { controllerLogFile } from './logFile.js';
import { parseArgs, USAGE, UsageError } from './options.js';

// A parent that closed our pipes (daemon mode) must not crash us with EPIPE.
process.stdout.on('error', () => {});
process.stderr.on('error', () => {});

let parsed: ReturnType<typeof parseArgs>;
try {
  parsed = parseArgs(process.argv.slice(2));
} catch (e) {
  if (!(e instanceof UsageError)) throw e;
  process.stderr.write(`multiengine controller: ${e.message}\n${USAGE}\n`);
  process.exit(2);
}
if (parsed.help) {
  process.stderr.write(`${USAGE}\n`);
  process.exit(0);
}
for (const u of parsed.unknown) log.warn(`ignoring unknown argument ${JSON.stringify(u)}`);

const options = parsed.options;
log.toFile(controllerLogFile(options.profile, options.dir));
const controller = new Controller(options);
controller.onShutdown = () => process.exit(0);

process.on('uncaughtException', (e) => {
  // Handlers catch their own errors; this is the last line of defence. Keep serving.
  controller.handlerErrors++;
  log.error(`uncaught exception: ${e?.stack ?? String(e)}`);
});
process.on('unhandledRejection', (e) => {
  controller.handlerErrors++;
  log.error(`unhandled rejection: ${(e as Error)?.stack ?? String(e)}`);
});
process.on('exit', () => {
  controller.removeFiles();
  controller.killLocalEnginesSync();
});

let signals = 0;
for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
  process.on(sig, () => {
    if (++signals > 2) {
      log.warn(`${sig} again: exiting now`);
      process.exit(1);
    }
    log.info(`${sig} received`);
    void controller.shutdown();
  });
}

try {
  const started = await controller.start();
  process.stdout.write(
    JSON.stringify({ event: 'ready', port: started.port, client_file: started.clientFile, engine_file: started.engineFile, pid: process.pid }) + '\n',
  );
} catch (e) {
  log.error((e as Error).message);
  process.exit(1);
}

if (options.exitWithParent) {
  const parent = process.ppid;
  const gone = (why: string) => {
    if (controller.isShuttingDown) return;
    log.info(`${why}: shutting down`);
    void controller.shutdown();
  };
  process.stdin.on('end', () => gone('stdin closed (parent gone)'));
  process.stdin.on('error', () => gone('stdin failed (parent gone)'));
  process.stdin.resume();
  setInterval(() => {
    if (process.ppid !== parent) gone('parent process exited');
  }, 1000).unref();
}
