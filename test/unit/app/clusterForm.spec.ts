// The new-cluster form's fields, checked in the user's words and turned into a cluster.json
// (and back), keeping what a hand-written file holds that the form does not show.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { clusterSettingsPath, readClusterSettings } from '../../../core/cluster/profileSettings.js';
import type { ClusterForm } from '../../../preload/contract.js';
import { formFromSettings, growOptions, joinWords, launcherOptionsOf, parseHosts, planOf, readForm, saveForm, settingsFromForm, splitWords } from '../../../main/services/clusterForm.js';
import { UserError } from '../../../main/services/userError.js';

const form = (patch: Partial<ClusterForm>): ClusterForm => ({ profile: 'p', n: 4, kind: 'node', launcher: 'local', mpiArgs: '', sshHosts: '', sshCommand: '', slurmPartition: '', slurmTime: '', slurmAccount: '', ...patch });

function errorOf(fn: () => unknown): UserError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(UserError);
    return e as UserError;
  }
  throw new Error('expected a UserError');
}

describe('command-line words', () => {
  it('splits on blanks, honours quotes and escapes, and joins back to the same words', () => {
    const words = splitWords(`--host a:2,b:2 --mca plm_rsh_agent "ssh -F /x y" -x 'it''s' a\\ b ""`, 'mpiArgs', 'The mpiexec arguments');
    expect(words).toEqual(['--host', 'a:2,b:2', '--mca', 'plm_rsh_agent', 'ssh -F /x y', '-x', 'its', 'a b', '']);
    expect(splitWords(joinWords(words), 'mpiArgs', 'x')).toEqual(words);
    expect(splitWords('   ', 'mpiArgs', 'x')).toEqual([]);
  });

  it('says which field has an unclosed quote', () => {
    const e = errorOf(() => splitWords(`ssh -o 'ProxyJump=x`, 'sshCommand', 'The ssh command'));
    expect(e.field).toBe('sshCommand');
    expect(e.message).toBe("The ssh command: a ' is opened and never closed");
  });
});

describe('ssh hosts', () => {
  it('reads host:n lists (a host alone is one engine)', () => {
    expect(parseHosts(' hostb:2, hostc:2 ,user@hostd')).toEqual({ hostb: 2, hostc: 2, 'user@hostd': 1 });
  });

  it.each([
    ['', /Give the hosts/],
    ['hostb:two', /Hosts: "hostb:two": the count after ':' must be a whole number ≥ 1/],
    ['hostb:0', /"hostb:0": the count after ':' must be a whole number ≥ 1/],
    ['hostb:2000', /hostb:2000: a host takes at most 1024 engines here/],
    ['hostb:1,hostb:2', /Hosts: hostb is given twice/],
    ['host b:1', /"host b" is not a host name/],
  ])('refuses %j', (text, why) => {
    const e = errorOf(() => parseHosts(text));
    expect(e.field).toBe('sshHosts');
    expect(e.message).toMatch(why);
  });
});

describe('launcher options from the form', () => {
  it('mpi: the arguments as a list', () => {
    expect(launcherOptionsOf(form({ launcher: 'mpi', mpiArgs: '--bind-to none' }))).toEqual({ args: ['--bind-to', 'none'] });
    expect(launcherOptionsOf(form({ launcher: 'mpi' }))).toEqual({});
  });

  it('ssh: hosts, the ssh command and its options; the hosts must add up to the engines', () => {
    expect(launcherOptionsOf(form({ launcher: 'ssh', sshHosts: 'b:2,c:2', sshCommand: 'ssh -F /etc/cfg' }))).toEqual({ hosts: { b: 2, c: 2 }, ssh: 'ssh', sshArgs: ['-F', '/etc/cfg'] });
    expect(launcherOptionsOf(form({ launcher: 'ssh', sshHosts: 'b:2,c:2' }))).toEqual({ hosts: { b: 2, c: 2 } });
    const e = errorOf(() => launcherOptionsOf(form({ launcher: 'ssh', n: 3, sshHosts: 'b:2,c:2' })));
    expect(e.field).toBe('sshHosts');
    expect(e.message).toBe('The hosts add up to 4 engines, but 3 are asked for: make them agree');
  });

  it('slurm: partition, time limit and account, each checked', () => {
    expect(launcherOptionsOf(form({ launcher: 'slurm', slurmPartition: ' debug ', slurmTime: '1-12:00:00', slurmAccount: 'proj_1' }))).toEqual({ partition: 'debug', time: '1-12:00:00', account: 'proj_1' });
    for (const t of ['30', '5:00', '1:00:00', '2-0', '2-01:30', 'UNLIMITED']) expect(launcherOptionsOf(form({ launcher: 'slurm', slurmTime: t }))).toEqual({ time: t });
    const time = errorOf(() => launcherOptionsOf(form({ launcher: 'slurm', slurmTime: 'an hour' })));
    expect(time.field).toBe('slurmTime');
    expect(time.message).toMatch(/^The time limit must be as sbatch takes it: minutes \(30\).*; got "an hour"$/);
    expect(errorOf(() => launcherOptionsOf(form({ launcher: 'slurm', slurmPartition: 'a b' }))).field).toBe('slurmPartition');
    expect(errorOf(() => launcherOptionsOf(form({ launcher: 'slurm', slurmAccount: 'x;y' }))).field).toBe('slurmAccount');
  });

  it('other launchers ignore the fields of the hidden ones', () => {
    expect(launcherOptionsOf(form({ launcher: 'local', mpiArgs: '"', sshHosts: 'bad host', slurmTime: 'soon' }))).toEqual({});
  });
});

describe('cluster.json from the form, and back', () => {
  it('keeps what the form does not show: python, ip, and options of the same launcher', () => {
    const prev = { n: 8, engine: 'python', python: '/opt/py', ip: '10.0.0.1', launcher: 'mpi', launcherOptions: { mpiexec: '/opt/mpi/bin/mpiexec', args: ['-v'] } };
    expect(settingsFromForm(form({ launcher: 'mpi', n: 2, mpiArgs: '--bind-to none' }), prev)).toEqual({
      n: 2,
      engine: 'node',
      python: '/opt/py',
      ip: '10.0.0.1',
      launcher: 'mpi',
      launcherOptions: { mpiexec: '/opt/mpi/bin/mpiexec', args: ['--bind-to', 'none'] },
    });
    // Another launcher: the old launcher's options go.
    expect(settingsFromForm(form({ launcher: 'local', n: 2 }), prev)).toEqual({ n: 2, engine: 'node', python: '/opt/py', ip: '10.0.0.1', launcher: 'local' });
  });

  it('fills the form from a file, saying what it keeps unseen', () => {
    const { form: f, note } = formFromSettings(
      { n: 4, engine: 'python', launcher: 'ssh', launcherOptions: { hosts: { b: 2, c: 2 }, ssh: 'ssh', sshArgs: ['-F', '/my cfg'], program: '/usr/bin/python3' }, engineTimeoutMs: 90000 },
      { profile: 'hpc', n: 1, kind: 'node' },
    );
    expect(f).toEqual(form({ profile: 'hpc', n: 4, kind: 'python', launcher: 'ssh', sshHosts: 'b:2,c:2', sshCommand: "ssh -F '/my cfg'" }));
    expect(note).toBe('cluster.json also sets ssh options program; engineTimeoutMs 90000: kept as is');
    // A launcher the form does not offer shows as local, with a note.
    const other = formFromSettings({ launcher: 'batch', launcherOptions: { submit: ['qsub'] } }, { profile: 'q', n: 3, kind: 'node' });
    expect(other.form).toMatchObject({ launcher: 'local', n: 3, kind: 'node' });
    expect(other.note).toMatch(/launcher batch \(the form can replace it with one of local, mpi, ssh, slurm\)/);
    // Nothing unseen: no note.
    expect(formFromSettings({}, { profile: 'q', n: 3, kind: 'node' }).note).toBeNull();
  });

  it('plans the start as the file says', () => {
    expect(planOf({ launcher: 'slurm', launcherOptions: { partition: 'debug' }, engineTimeoutMs: 120000, ip: '0.0.0.0', location: 'head', scheme: 'lru', hwm: 1 }, { n: 4, kind: 'node' })).toEqual({
      groups: [{ n: 4, kind: 'node' }],
      launcher: 'slurm',
      launcherOptions: { partition: 'debug' },
      engineTimeoutMs: 120000,
      ip: '0.0.0.0',
      location: 'head',
      scheme: 'lru',
      hwm: 1,
    });
    expect(planOf({}, { n: 2, kind: 'python' })).toEqual({ groups: [{ n: 2, kind: 'python' }], launcher: 'local' });
  });

  it('saves the file (0600) and reads it back; a bad old file is replaced', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'me-form-'));
    try {
      expect(readForm('p', { n: 3, kind: 'node' }, dir)).toMatchObject({ exists: false, note: null, form: form({ n: 3 }), file: clusterSettingsPath('p', dir) });
      fs.mkdirSync(path.dirname(clusterSettingsPath('p', dir)), { recursive: true });
      fs.writeFileSync(clusterSettingsPath('p', dir), '{ not json');
      expect(errorOf(() => readForm('p', { n: 3, kind: 'node' }, dir)).message).toMatch(/is not valid JSON/);
      saveForm(form({ launcher: 'slurm', n: 4, slurmPartition: 'debug', slurmTime: '10' }), dir);
      expect(readClusterSettings('p', dir)).toEqual({ n: 4, engine: 'node', launcher: 'slurm', launcherOptions: { partition: 'debug', time: '10' } });
      expect(fs.statSync(clusterSettingsPath('p', dir)).mode & 0o777).toBe(0o600);
      expect(readForm('p', { n: 1, kind: 'node' }, dir).form).toEqual(form({ launcher: 'slurm', n: 4, slurmPartition: 'debug', slurmTime: '10' }));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('adding engines to a cluster the app started', () => {
  it('goes through the same launcher and options; ssh hosts lose their counts and the first n share the engines', () => {
    expect(growOptions({ groups: [], launcher: 'local' }, 2)).toEqual({});
    expect(growOptions({ groups: [], launcher: 'slurm', launcherOptions: { partition: 'debug', time: '30' }, engineTimeoutMs: 90_000 }, 4)).toEqual({
      launcher: 'slurm',
      launcherOptions: { partition: 'debug', time: '30' },
      timeoutMs: 90_000,
    });
    const ssh = { groups: [], launcher: 'ssh', launcherOptions: { hosts: { hostb: 2, hostc: 2 }, sshArgs: ['-F', 'cfg'] } };
    expect(growOptions(ssh, 1)).toEqual({ launcher: 'ssh', launcherOptions: { hosts: 'hostb', sshArgs: ['-F', 'cfg'] } });
    expect(growOptions(ssh, 3).launcherOptions).toEqual({ hosts: 'hostb,hostc', sshArgs: ['-F', 'cfg'] });
    expect(growOptions({ groups: [], launcher: 'ssh', launcherOptions: { hosts: 'hostb:2, hostc:1' } }, 2).launcherOptions).toEqual({ hosts: 'hostb,hostc' });
  });
});
