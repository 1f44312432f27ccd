/** What `multiengine` and each of its commands print for --help, and the usage errors. */

export const USAGE = `usage: multiengine <command> [options]

commands:
  start      start a controller and N engines (runs until Ctrl-C, or in the background with --daemon)
  stop       stop the cluster of a profile
  status     list the engines of a running cluster, its load balancing, engine sets and result store
  engines    add an engine set to a running cluster (through a launcher), stop one, or show its output
  tasks      the task records of a running cluster (every request: engine, status, times, errors)
  profile    show a profile's cluster settings (cluster.json), or save flags into them
  controller run a controller by hand
  engine     run one engine by hand, e.g. on another host
  console    an interactive prompt with the client loaded and the %px magics
  app        the desktop app (or its UI served to a browser with --web)
  help       this text; \`multiengine help <command>\` or \`multiengine <command> --help\` for one command

common options: --dir D (instead of $MULTIENGINE_DIR or ~/.multiengine), --profile P (default: default)`;

const COMMON = `  --profile P         the cluster's name (default: default)
  --dir D             where connection files live (default: $MULTIENGINE_DIR or ~/.multiengine)
  -h, --help          this text`;

const LAUNCHER_FLAGS = `
  --launcher L        how engines start: local (default), mpi, ssh, slurm, batch, or a launcher module's path
  --engine-timeout-ms MS  how long the engines may take to register (a batch job may pend first)
  --mpi-args "ARGS"   (mpi) more arguments for mpiexec, split as a shell would: "--host a:2,b:2"
  --ssh-hosts H:N,... (ssh) the hosts and how many engines on each: hostb:2,hostc:2
  --ssh-command "CMD" (ssh) the ssh command and its options: "ssh -F /etc/multiengine/ssh_config -p 2222"
  --slurm-partition P (slurm) the partition
  --slurm-time T      (slurm) the time limit, as 1:00:00
  --slurm-account A   (slurm) the account to charge
  --launcher-option KEY=VALUE  any launcher option (docs/launchers.md); VALUE is JSON when it parses
                      (2, true, ["a","b"]), else a string; repeat it for more
  A launcher's flag with another launcher is an error.
`;

/** Usage of the commands whose options this CLI parses itself (console, controller and app print their own). */
export const COMMAND_USAGE: Readonly<Record<string, string>> = {
  start: `usage: multiengine start [-n N] [--launcher L] [launcher flags] [--engine node|python] [--python PATH]
                        [--ip IP] [--location ADDR] [--scheme S] [--hwm N] [--db D] [--engine-timeout-ms MS]
                        [--daemon] [--restart always|never] [--verbose]

  Starts a controller and N engines and runs until Ctrl-C, which stops them all;
  with --daemon it returns once the engines are up (stop it with \`multiengine stop\`).
  The profile's cluster.json (\`multiengine profile\`) gives every setting not given as a flag.

  -n N                number of engines (default: one per CPU core; with --ssh-hosts, their sum)
  --engine KIND       node (default) or python
  --python PATH       the Python for python engines (default: $MULTIENGINE_PYTHON or python3)
  --ip IP             the address the controller listens on (default: 127.0.0.1)
  --location ADDR     the address written into connection files, when engines reach the controller by another name
  --scheme S          how load-balanced tasks pick an engine: leastload (default), lru, random, twobin, weighted
  --hwm N             load-balanced tasks outstanding per engine at most (0: no limit; default: the controller's)
  --db D              where task records go: sqlite (default, the profile's tasks.db), memory or none
  --daemon            keep the cluster running in the background
  --restart always    replace engines that die (same id, new namespace); never is the default
  --verbose           pass the controller's and engines' logs through to stderr
${LAUNCHER_FLAGS}
${COMMON}`,
  stop: `usage: multiengine stop [--profile P] [--dir D]

  Stops the controller and every engine of a running cluster.

${COMMON}`,
  status: `usage: multiengine status [--profile P] [--dir D] [--json]

  Lists the engines of a running cluster (with their host, requests queued, and how many of
  those are load-balanced tasks), its engine sets (launcher, state, batch job, engines, hosts,
  and why a set pends or ended), its result store, where the controller listens (and whether
  other hosts can reach it), and its load balancing: tasks not yet sent to any engine
  (unassigned), the scheme and the most tasks it puts on one engine (hwm).

  --json              print the controller's status as JSON instead (for scripts)

${COMMON}`,
  engines: `usage: multiengine engines [-n N] [--launcher L] [launcher flags] [--engine node|python] [--python PATH] [--engine-timeout-ms MS]
       multiengine engines --stop SET
       multiengine engines --output SET

  Adds an engine set to the running cluster of a profile (like \`ipcluster engines\`), prints
  its set id and engine ids, and returns; the controller keeps the set until it stops or the
  set is stopped. Settings not given as flags come from the profile's cluster.json.

  -n N                number of engines (default: as \`multiengine start\`)
  --engine KIND       node (default) or python
  --python PATH       the Python for python engines
  --stop SET          stop the engine set SET (as set-2: \`multiengine status\` lists the sets)
  --output SET        print what the launcher of SET printed (mpiexec's, ssh's, the job's output)
${LAUNCHER_FLAGS}
${COMMON}`,
  tasks: `usage: multiengine tasks [--profile P] [--dir D] [--engine N] [--status ok|error|aborted|pending]
                        [--method M] [--label L] [--last N] [--json]

  Prints the task records of a running cluster (its controller's task database: one record per
  request and engine), oldest first by the time they were sent: msg_id (its head and tail),
  engine, method, label, status, when it was submitted (UTC), how long the engine took, the
  code or function (truncated) and the error (ename: evalue, truncated). Requests a client
  sends straight to an engine (its direct connection) come from that engine's reports, a
  fraction of a second after they end.

  --engine N          only the records of engine N
  --status S          only those with status ok, error, aborted or pending (still running)
  --method M          only those of one method: execute, apply, push, pull, keys or clear
  --label L           only requests with this label (a view's label)
  --last N            only the newest N records
  --json              print the full records (output and traceback too), one JSON object per line

${COMMON}`,
  profile: `usage: multiengine profile [--profile P] [--dir D] [-n N] [--launcher L] [launcher flags] [--engine KIND]
                          [--python PATH] [--ip IP] [--location ADDR] [--scheme S] [--hwm N] [--db D] [--engine-timeout-ms MS]

  With no settings flags, prints the profile's cluster settings ($MULTIENGINE_DIR/profile_P/cluster.json).
  With some, saves them into that file over what it holds (flags of another launcher than the
  file's replace its launcher options), so \`multiengine start --profile P\` needs no flags.
  The flags mean what they mean for \`multiengine start\`.

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
