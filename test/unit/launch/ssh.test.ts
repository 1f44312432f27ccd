/** The ssh launcher's pure parts: the hosts option, and the quoting of the remote command. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, test } from 'node:test';
import { shellQuote } from '../../../core/launch/ssh.ts';
import { parseHosts } from '../../../core/launch/sshHosts.ts';

const hostsOf = (value: unknown, n: number) => parseHosts(value, n, 10).map((s) => `${s.id}@${s.host}`);

describe('the hosts option', () => {
  test('an object or a string: engine k of the set takes first id + k, hosts in the order given', () => {
    assert.deepEqual(hostsOf({ hostc: 1, hostb: 2 }, 3), ['10@hostc', '11@hostb', '12@hostb']);
    assert.deepEqual(hostsOf(' hostb:2, me@hostc:1 ', 3), ['10@hostb', '11@hostb', '12@me@hostc']);
  });

  test('hosts without a count share what the counted ones leave, the first ones taking the odd engine', () => {
    assert.deepEqual(hostsOf('hostb,hostc', 3), ['10@hostb', '11@hostb', '12@hostc']);
    assert.deepEqual(hostsOf('hosta:1,hostb,hostc', 5), ['10@hosta', '11@hostb', '12@hostb', '13@hostc', '14@hostc']);
  });

  test('bad entries are named', () => {
    assert.throws(() => parseHosts(undefined, 1, 0), /the ssh launcher needs the hosts option: give hosts as/);
    assert.throws(() => parseHosts(['hostb'], 1, 0), /hosts option: give hosts as .*; got \["hostb"\]/);
    assert.throws(() => parseHosts(' , ', 1, 0), /hosts option: no host is named/);
    assert.throws(() => parseHosts('hostb:0', 1, 0), /hosts option: "hostb:0": the count after ':' must be a whole number ≥ 1/);
    assert.throws(() => parseHosts({ hostb: 1.5 }, 1, 0), /hosts option: hostb must be a whole number of engines ≥ 1, got 1\.5/);
    assert.throws(() => parseHosts({ 'host b': 1 }, 1, 0), /hosts option: "host b" is not a host name/);
    assert.throws(() => parseHosts('-oProxyCommand=x', 1, 0), /"-oProxyCommand=x" is not a host name/);
    assert.throws(() => parseHosts('hostb:1,hostb:1', 2, 0), /hostb is given twice/);
    assert.throws(() => parseHosts({ hostb: 2, hostc: 2 }, 3, 0), /hosts hostb:2,hostc:2 make 4 engines, but 3 were asked for/);
    assert.throws(() => parseHosts('hostb:2,hostc,hostd', 3, 0), /hosts hostb:2,hostc,hostd: 3 engines leave 1 for the 2 hosts without a count/);
  });
});

describe('shellQuote', () => {
  test('a POSIX shell gives back exactly the words, whatever they hold', () => {
    const words = ['a b', "it's", '$HOME', '`id`', '"q"', '\\', '*', ';rm -rf x', '', 'ü'];
    const r = spawnSync('/bin/sh', ['-c', `printf '%s\\0' ${shellQuote(words)}`], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(r.stdout.split('\0').slice(0, -1), words);
  });
});
