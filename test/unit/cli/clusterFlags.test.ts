// The command line's cluster flags → a profile's cluster settings (flag parsing and mapping, no processes).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { CONTROLLER_FLAGS, engineCount, ENGINE_SET_FLAGS, joinDashValues, parseHosts, resolveSettings } from '../../../core/cli/clusterFlags.ts';
import { UsageError } from '../../../core/cli/usage.ts';
import { splitWords } from '../../../core/util/words.ts';
import { SettingsError, type ClusterSettings } from '../../../core/cluster/profileSettings.ts';
import { formatEngineSets, formatListen, idRanges } from '../../../core/cli/statusReport.ts';

const FILE = '/profiles/profile_hpc/cluster.json';

/** What `multiengine start <args>` would start, over `file` (the profile's cluster.json). */
function settings(args: string[], file: ClusterSettings = {}): ClusterSettings {
  const { values } = parseArgs({ args: joinDashValues(args), options: { ...ENGINE_SET_FLAGS, ...CONTROLLER_FLAGS } });
  return resolveSettings(file, FILE, values);
}

function usageError(args: string[], message: RegExp, file: ClusterSettings = {}) {
  assert.throws(() => settings(args, file), (e: Error) => e instanceof UsageError && message.test(e.message), `${args.join(' ')}`);
}

test('ssh flags map to the ssh launcher options hosts, ssh and sshArgs; n is the hosts\' sum', () => {
  const s = settings(['--launcher', 'ssh', '--ssh-hosts', 'hostb:2,hostc:3,hostd', '--ssh-command', "ssh -F '/my dir/ssh_config' -p 2222"]);
  assert.deepEqual(s, {
    launcher: 'ssh',
    launcherOptions: { hosts: { hostb: 2, hostc: 3, hostd: 1 }, ssh: 'ssh', sshArgs: ['-F', '/my dir/ssh_config', '-p', '2222'] },
  });
  assert.equal(engineCount(s), 6);
  assert.equal(engineCount(settings(['--launcher', 'ssh', '-n', '4', '--ssh-hosts', 'hostb:2'])), 4, '-n wins');
  // Hosts given as a flag count the engines rather than the file's n.
  assert.equal(engineCount(settings(['--ssh-hosts', 'b:1,c:1'], { n: 8, launcher: 'ssh' })), 2);
});

test('slurm and mpi flags map to partition, time, account and args', () => {
  assert.deepEqual(settings(['--launcher', 'slurm', '-n', '8', '--slurm-partition', 'debug', '--slurm-time', '0:10:00', '--slurm-account', 'proj1']), {
    launcher: 'slurm',
    n: 8,
    launcherOptions: { partition: 'debug', time: '0:10:00', account: 'proj1' },
  });
  // A value that starts with a dash is mpiexec's, not ours.
  assert.deepEqual(settings(['--launcher', 'mpi', '--mpi-args', '--host "a:2,b:2" --mca plm_rsh_agent "ssh -F cfg"']).launcherOptions, {
    args: ['--host', 'a:2,b:2', '--mca', 'plm_rsh_agent', 'ssh -F cfg'],
  });
});

test('--launcher-option key=value takes JSON values when they parse, else strings', () => {
  const s = settings(['--launcher', 'batch', '--launcher-option', 'submit=["qsub","-V"]', '--launcher-option', 'pollMs=250', '--launcher-option', 'template=/jobs/pbs.sh', '--launcher-option', 'flag=true', '--launcher-option', 'note=a=b']);
  assert.deepEqual(s.launcherOptions, { submit: ['qsub', '-V'], pollMs: 250, template: '/jobs/pbs.sh', flag: true, note: 'a=b' });
  usageError(['--launcher', 'batch', '--launcher-option', 'novalue'], /--launcher-option takes key=value, got "novalue"/);
  usageError(['--launcher', 'batch', '--launcher-option', '=3'], /--launcher-option takes key=value/);
  usageError(['--launcher', 'slurm', '--slurm-time', '1:00', '--launcher-option', 'time=2:00'], /--slurm-time and --launcher-option time=2:00 both set the launcher option time/);
  usageError(['--launcher-option', 'x=1'], /the local launcher takes no options/);
});

test('a flag of another launcher is an error naming both', () => {
  usageError(['--launcher', 'mpi', '--slurm-time', '1:00'], /--slurm-time is an option of the slurm launcher, but this cluster uses --launcher mpi/);
  usageError(['--ssh-hosts', 'b:2'], /--ssh-hosts is an option of the ssh launcher, but this cluster uses the local launcher \(the default\); add --launcher ssh/);
  usageError(['--mpi-args', '-x'], /the launcher slurm of \/profiles\/profile_hpc\/cluster.json; add --launcher mpi/, { launcher: 'slurm' });
  usageError(['--launcher', './my-launcher.js', '--slurm-partition', 'p'], /--slurm-partition is an option of the slurm launcher, but this cluster uses --launcher .\/my-launcher.js/);
});

test('flags win over the profile file; the file\'s launcher options go when the launcher changes', () => {
  const file: ClusterSettings = { n: 8, engine: 'python', launcher: 'slurm', launcherOptions: { partition: 'debug', time: '1:00:00' }, ip: '10.0.0.1', engineTimeoutMs: 300_000 };
  assert.deepEqual(settings([], file), file, 'no flags: the file');
  assert.deepEqual(settings(['--slurm-time', '0:05:00', '-n', '2'], file), { ...file, n: 2, launcherOptions: { partition: 'debug', time: '0:05:00' } });
  assert.deepEqual(settings(['--launcher', 'mpi', '--engine', 'node', '--ip', '127.0.0.1', '--location', 'head', '--engine-timeout-ms', '5000'], file), {
    n: 8,
    engine: 'node',
    launcher: 'mpi',
    ip: '127.0.0.1',
    location: 'head',
    engineTimeoutMs: 5000,
  });
  assert.deepEqual(settings(['--launcher', 'slurm'], file).launcherOptions, file.launcherOptions, 'the same launcher keeps its options');
  // --ssh-command replaces the file's whole ssh command, sshArgs included.
  assert.deepEqual(settings(['--ssh-command', 'autossh'], { launcher: 'ssh', launcherOptions: { sshArgs: ['-F', 'old'], hosts: { b: 1 } } }).launcherOptions, { sshArgs: [], hosts: { b: 1 }, ssh: 'autossh' });
});

test('a launcher module path is made absolute, so the controller finds it from any folder', () => {
  assert.equal(settings(['--launcher', 'plugins/my-launcher.js']).launcher, path.resolve('plugins/my-launcher.js'));
  assert.equal(settings(['--launcher', 'slurm']).launcher, 'slurm');
});

test('bad values name the flag and the value', () => {
  usageError(['-n', 'lots'], /-n must be a whole number, got "lots"/);
  usageError(['-n', ''], /-n must be a whole number, got ""/);
  usageError(['--engine', 'rust'], /--engine must be one of node, python; got "rust"/);
  usageError(['--engine-timeout-ms', '0'], /--engine-timeout-ms must be a whole number of milliseconds ≥ 1, got "0"/);
  usageError(['--engine-timeout-ms', '1e3'], /--engine-timeout-ms must be a whole number/);
  usageError(['--launcher', ''], /--launcher needs a launcher name/);
  usageError(['--launcher', 'slurm', '--slurm-partition', ' '], /--slurm-partition needs a value/);
  usageError(['--launcher', 'mpi', '--mpi-args', '--host "a:2'], /--mpi-args: a " is opened and never closed/);
  usageError(['--launcher', 'ssh', '--ssh-hosts', 'b:2,-oProxyCommand=x'], /--ssh-hosts: "-oProxyCommand=x" is not a host name/);
  usageError(['--launcher', 'ssh', '--ssh-hosts', 'b:two'], /--ssh-hosts: "b:two": the count after ':' must be a whole number ≥ 1/);
  usageError(['--launcher', 'ssh', '--ssh-hosts', 'b:1,b:2'], /--ssh-hosts: b is given twice/);
  assert.throws(() => settings([], { engine: 'rust' }), (e: Error) => e instanceof SettingsError && e.message === `${FILE}: engine must be one of node, python, got "rust"`);
});

test('--scheme and --hwm are checked as the controller checks them and saved as settings', () => {
  assert.deepEqual(settings(['--scheme', 'twobin', '--hwm', '0', '--db', 'memory']), { scheme: 'twobin', hwm: 0, db: 'memory' });
  usageError(['--db', 'mongo'], /--db must be sqlite, memory or none, got "mongo"/);
  usageError(['--scheme', 'fastest'], /--scheme must be one of leastload, lru, random, twobin, weighted, got "fastest"/);
  usageError(['--hwm', '1.5'], /--hwm must be a whole number from 0 to 1000000, got "1.5"/);
});

test('parseHosts keeps user@host and the order given', () => {
  assert.deepEqual(Object.entries(parseHosts('me@hostc:2,hostb')), [['me@hostc', 2], ['hostb', 1]]);
});

test('engineCount defaults to one engine per core', () => {
  assert.equal(engineCount({}), os.availableParallelism());
  assert.equal(engineCount({ n: 0 }), 0);
});

test('joinDashValues leaves everything after -- alone', () => {
  assert.deepEqual(joinDashValues(['--mpi-args', '-x A', '--', '--mpi-args', '-y']), ['--mpi-args=-x A', '--', '--mpi-args', '-y']);
});

test('splitWords splits as a shell does, without expanding anything', () => {
  assert.deepEqual(splitWords(`a  'b c' "d \\"e\\" $f" g\\ h ''`, 'x'), ['a', 'b c', 'd "e" $f', 'g h', '']);
  assert.deepEqual(splitWords('  ', 'x'), []);
  assert.throws(() => splitWords("a 'b", '--ssh-command'), /--ssh-command: a ' is opened and never closed/);
});

test('status lines: engine sets and where the controller listens', () => {
  assert.equal(idRanges([3, 0, 1, 2, 7, 9, 10]), '0-3,7,9-10');
  const text = formatEngineSets([
    { id: 'set-1', launcher: 'mpi', engine: 'python', n: 2, engines: [0, 1], hosts: ['hosta'], state: 'running', started: '' },
    { id: 'set-2', launcher: 'slurm', engine: 'node', n: 4, engines: [], hosts: [], state: 'ended', reason: 'job 12 cancelled', job_id: '12', started: '' },
  ]);
  assert.deepEqual(text.split('\n').map((l) => l.split(/\s{2,}/)), [
    ['set', 'launcher', 'state', 'job', 'engines', 'hosts', 'reason'],
    ['set-1', 'mpi', 'running', '-', '0-1 (2/2)', 'hosta'],
    ['set-2', 'slurm', 'ended', '12', 'none (0/4)', '-', 'job 12 cancelled'],
  ]);
  assert.equal(formatListen({ ip: '10.0.0.1', port: 5555, location: '10.0.0.1', loopback: false }), 'listening on 10.0.0.1:5555 (reachable from other hosts; messages are HMAC-signed)');
  assert.equal(formatListen({ ip: '0.0.0.0', port: 5555, location: 'head', loopback: false }), 'listening on 0.0.0.0:5555 (reachable from other hosts; messages are HMAC-signed, engines and clients reach it as head)');
  assert.equal(formatListen({ ip: '127.0.0.1', port: 1, location: '127.0.0.1', loopback: true }), 'listening on 127.0.0.1:1 (this machine only)');
});
