// Payload validation and the router that both bridges use.
import { describe, expect, it, vi, type Mock } from 'vitest';
import { INVOKE_CHANNELS, SEND_CHANNELS } from '../../../preload/contract.js';
import { Router, type InvokeHandlers, type SendHandlers } from '../../../main/ipc/router.js';
import { invokeValidators, PayloadError, sendValidators } from '../../../main/ipc/validate.js';

function handlers() {
  const invokes: Record<string, Mock> = Object.fromEntries(Object.keys(INVOKE_CHANNELS).map((k) => [k, vi.fn(async (p: unknown) => ({ got: p }))]));
  const sends: Record<string, Mock> = Object.fromEntries(Object.keys(SEND_CHANNELS).map((k) => [k, vi.fn()]));
  return { invokes, sends, router: new Router(invokes as unknown as InvokeHandlers, sends as unknown as SendHandlers) };
}

describe('payload validation', () => {
  it('has a validator for every channel', () => {
    expect(Object.keys(invokeValidators).sort()).toEqual(Object.keys(INVOKE_CHANNELS).sort());
    expect(Object.keys(sendValidators).sort()).toEqual(Object.keys(SEND_CHANNELS).sort());
  });

  it('accepts well-formed payloads', () => {
    expect(invokeValidators.pull({ name: 'a', targets: [0, 2] })).toEqual({ name: 'a', targets: [0, 2] });
    expect(invokeValidators.listNamespace({ targets: [] })).toEqual({ targets: [] });
    expect(invokeValidators.push({ name: 'b', source: '[1,2,3]', format: 'json', targets: [0, 2] })).toEqual({ name: 'b', source: '[1,2,3]', format: 'json', targets: [0, 2] });
    expect(invokeValidators.addEngines({ n: 2, kind: 'python' })).toEqual({ n: 2, kind: 'python' });
    expect(invokeValidators.getCluster(undefined)).toBeUndefined();
    expect(invokeValidators.getCluster(null)).toBeUndefined();
    expect(sendValidators.ptyResize({ cols: 80, rows: 24 })).toEqual({ cols: 80, rows: 24 });
    expect(sendValidators.ptyWrite({ data: '%px a = 5\r' })).toEqual({ data: '%px a = 5\r' });
    expect(invokeValidators.stopEngineSet({ set: 'set-2' })).toEqual({ set: 'set-2' });
    expect(invokeValidators.getClusterForm({ profile: 'hpc' })).toEqual({ profile: 'hpc' });
    // Text fields the form leaves out read as empty.
    expect(invokeValidators.startNewCluster({ profile: 'hpc', n: 2, kind: 'node', launcher: 'mpi', mpiArgs: '--bind-to none' })).toEqual({
      profile: 'hpc',
      n: 2,
      kind: 'node',
      launcher: 'mpi',
      mpiArgs: '--bind-to none',
      sshHosts: '',
      sshCommand: '',
      slurmPartition: '',
      slurmTime: '',
      slurmAccount: '',
    });
  });

  const bad: [keyof typeof invokeValidators, unknown, RegExp][] = [
    ['pull', { name: '1x', targets: [] }, /not a valid name/],
    ['pull', { name: 'a', targets: [-1] }, /^The engine selection must be a whole number/],
    ['pull', { name: 'a', targets: [1, 1] }, /twice/],
    ['pull', { name: 'a', targets: 'all' }, /list of engine ids/],
    ['pull', { name: 'a', targets: [], extra: 1 }, /unexpected field "extra"/],
    ['pull', ['a'], /is not an object/],
    ['pull', Object.create({ name: 'a' }), /plain object/],
    ['push', { name: 'b', source: '1', format: 'yaml', targets: [] }, /"json" or "expr"/],
    ['push', { name: 'b', source: '  ', format: 'json', targets: [] }, /must not be empty/],
    ['addEngines', { n: 0, kind: 'node' }, /from 1 to/],
    ['addEngines', { n: 1.5, kind: 'node' }, /whole number/],
    ['addEngines', { n: 2, kind: 'ruby' }, /one of "node", "python"; got "ruby"/],
    ['attachCluster', { profile: '../etc' }, /not a profile name/],
    ['interruptEngines', { ids: [] }, /at least one engine/],
    ['getCluster', { sneaky: true }, /takes no payload/],
    ['execute', { code: 'x'.repeat(1_000_001), targets: [] }, /longer than/],
    ['stopEngineSet', { set: '' }, /must not be empty/],
    ['engineSetOutput', { set: 3 }, /must be text/],
    ['engineStack', { id: -1 }, /whole number from 0/],
    ['engineProfile', { id: 0, seconds: 120 }, /number of seconds from 0.1 to 60, got 120/],
    ['engineProfile', { id: 0 }, /number of seconds from 0.1 to 60/],
    ['startNewCluster', { profile: 'p', n: 2, kind: 'node', launcher: 'pbs' }, /one of local, mpi, ssh, slurm; got "pbs"/],
    ['startNewCluster', { profile: 'p', n: 2, kind: 'node', launcher: 'mpi', mpiArgs: ['-x'] }, /must be text/],
    ['startNewCluster', { profile: 'p', n: 2, kind: 'node', launcher: 'mpi', hosts: 'a' }, /unexpected field "hosts"/],
  ];
  for (const [name, payload, why] of bad) {
    it(`refuses ${name} ${JSON.stringify(payload)?.slice(0, 60)}`, () => {
      expect(() => (invokeValidators[name] as (v: unknown) => unknown)(payload)).toThrow(PayloadError);
      expect(() => (invokeValidators[name] as (v: unknown) => unknown)(payload)).toThrow(why);
    });
  }

  it('says what was wrong in the words of the form, never the payload path', () => {
    const cases: [keyof typeof invokeValidators, unknown, string, RegExp][] = [
      ['addEngines', { n: 0, kind: 'node' }, 'engines', /^The number of engines must be a whole number from 1 to 1024, got 0$/],
      ['pull', { name: '1x', targets: [] }, 'name', /^The name "1x" is not a valid name/],
      ['gather', { name: '', targets: [] }, 'name', /^The name "" is not a valid name/],
      ['push', { name: 'b', source: ' ', format: 'json', targets: [] }, 'value', /^The value must not be empty$/],
      ['attachCluster', { profile: 'a b' }, 'profile', /^The profile "a b" is not a profile name/],
      ['startNewCluster', { profile: 'p', n: 0, kind: 'node', launcher: 'local' }, 'engines', /^The number of engines must be a whole number from 1 to 1024, got 0$/],
      ['startNewCluster', { profile: 'p', n: 1, kind: 'node', launcher: 'lsf' }, 'launcher', /^The launcher must be one of local, mpi, ssh, slurm; got "lsf"$/],
      ['startNewCluster', { profile: 'p', n: 1, kind: 'node', launcher: 'slurm', slurmTime: 7 }, 'slurmTime', /^The time limit must be text, got 7$/],
    ];
    for (const [name, payload, field, message] of cases) {
      let err: PayloadError | undefined;
      try {
        (invokeValidators[name] as (v: unknown) => unknown)(payload);
      } catch (e) {
        err = e as PayloadError;
      }
      expect(err?.field, name).toBe(field);
      expect(err?.message).toMatch(message);
      expect(err?.message).not.toMatch(/addEngines|pull\.|gather|push\.|attachCluster|startNewCluster|PayloadError/);
    }
  });

  it('refuses bad terminal messages', () => {
    expect(() => sendValidators.ptyResize({ cols: 0, rows: 24 })).toThrow(PayloadError);
    expect(() => sendValidators.ptyResize({ cols: 80, rows: '24' })).toThrow(PayloadError);
    expect(() => sendValidators.ptyWrite({ data: 42 })).toThrow(PayloadError);
    expect(() => sendValidators.ptyAck({ chars: -5 })).toThrow(PayloadError);
  });
});

describe('the router', () => {
  it('calls the handler with the validated payload and wraps the value', async () => {
    const { router, invokes } = handlers();
    const r = await router.invoke(INVOKE_CHANNELS.pull, { name: 'a', targets: [1] });
    expect(r).toEqual({ ok: true, value: { got: { name: 'a', targets: [1] } } });
    expect(invokes.pull).toHaveBeenCalledTimes(1);
  });

  it('answers a bad payload with an error and never calls the handler', async () => {
    const { router, invokes } = handlers();
    const r = await router.invoke(INVOKE_CHANNELS.pull, { name: 'not a name', targets: [] });
    expect(r.ok).toBe(false);
    // In the user's words, and naming the form field, so the page can show it under the input.
    expect(r.ok === false && r.error).toEqual({ name: 'PayloadError', message: 'The name "not a name" is not a valid name: names are identifiers, like a, x1 or my_value', field: 'name' });
    expect(invokes.pull).not.toHaveBeenCalled();
    expect(router.rejected).toBe(1);
  });

  it('refuses unknown channels and channels of the wrong kind', async () => {
    const { router, sends } = handlers();
    expect(await router.invoke('me:evil:thing', {})).toMatchObject({ ok: false, error: { name: 'ProtocolError' } });
    expect(await router.invoke(SEND_CHANNELS.ptyWrite, { data: 'x' })).toMatchObject({ ok: false });
    expect(await router.invoke(42, {})).toMatchObject({ ok: false });
    expect(router.send(INVOKE_CHANNELS.stopCluster, null)).toBe(false);
    expect(router.send(SEND_CHANNELS.ptyWrite, { data: 7 })).toBe(false);
    expect(sends.ptyWrite).not.toHaveBeenCalled();
    expect(router.send(SEND_CHANNELS.ptyWrite, { data: 'ls\r' })).toBe(true);
    expect(sends.ptyWrite).toHaveBeenCalledWith({ data: 'ls\r' });
  });

  it('reports a failing handler as an error reply, not an exception', async () => {
    const { router, invokes } = handlers();
    invokes.stopEngine.mockRejectedValueOnce(Object.assign(new Error('no engine with id 9'), { name: 'ControllerError' }));
    expect(await router.invoke(INVOKE_CHANNELS.stopEngine, { id: 9 })).toEqual({ ok: false, error: { name: 'ControllerError', message: 'no engine with id 9' } });
  });
});
