/** What `multiengine` and each of its commands print for --help, and the usage errors. */

export const USAGE = `usage: multiengine <command> [options]

commands:
  start      start a controller and N engines (runs until Ctrl-C, or in the background with --daemon)
  stop       stop the cluster of a profile
  status     list the engines of a running cluster and its result store
  controller run a controller by hand
  engine     run one engine by hand, e.g. on another host
  console    an interactive prompt with the client loaded and the %px magics
  app        the desktop app (or its UI served to a browser with --web)
  help       this text; \`multiengine help <command>\` or \`multiengine <command> --help\` for one command

common options: --dir D (instead of $MULTIENGINE_DIR or ~/.multiengine), --profile P (default: default)`;

const COMMON = `  --profile P         the cluster's name (default: default)
  --dir D             where connection files live (default: $MULTIENGINE_DIR or ~/.multiengine)
  -h, --help          this text`;

/** Usage of the commands whose options this CLI parses itself (console, controller and app print their own). */
export const COMMAND_USAGE: Readonly<Record<string, string>> = {
  start: `usage: multiengine start [-n N] [--engine node|python] [--python PATH] [--ip IP] [--daemon] [--restart always|never] [--verbose]

  Starts a controller and N engines and runs until Ctrl-C, which stops them all;
  with --daemon it returns once the engines are up (stop it with \`multiengine stop\`).

  -n N                number of engines (default: one per CPU core)
  --engine KIND       node (default) or python
  --python PATH       the Python for python engines (default: $MULTIENGINE_PYTHON or python3)
  --ip IP             the address the controller listens on (default: 127.0.0.1)
  --daemon            keep the cluster running in the background
  --restart always    replace engines that die (same id, new namespace); never is the default
  --verbose           pass the controller's and engines' logs through to stderr
${COMMON}`,
  stop: `usage: multiengine stop [--profile P] [--dir D]

  Stops the controller and every engine of a running cluster.

${COMMON}`,
  status: `usage: multiengine status [--profile P] [--dir D]

  Lists the engines of a running cluster and its result store.

${COMMON}`,
  engine: `usage: multiengine engine --file <engine connection file> [--engine node|python] [--python PATH] [--id N] [--reconnect-ms MS]

  Runs one engine by hand, e.g. on another host. It registers again (same id, same
  namespace) when the controller comes back within MS.

  -h, --help          this text`,
  help: USAGE,
};

export class UsageError extends Error {
  /** `command`: whose usage to show with the error. */
  constructor(
    message: string,
    readonly command?: string,
  ) {
    super(message);
    this.name = 'UsageError';
  }
}

/** True when the arguments ask for help (before any `--`). */
export function wantsHelp(args: readonly string[]): boolean {
  for (const a of args) {
    if (a === '--') return false;
    if (a === '-h' || a === '--help') return true;
  }
  return false;
}
