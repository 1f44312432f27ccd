// Web mode's command line and when it opens a browser.
import { describe, expect, it } from 'vitest';
import { canOpenBrowser, parseWebArgs, pickAppArgs } from '../../../main/webMain.js';

describe('the app command line', () => {
  it('reads the options', () => {
    expect(parseWebArgs(['--web', '-n', '4', '--engine', 'python', '--profile', 'p', '--port', '8123', '--no-open'])).toEqual({
      web: true,
      port: 8123,
      open: false,
      overrides: { engineCount: 4, engineKind: 'python', profile: 'p' },
      dir: undefined,
      heartbeatMs: undefined,
      help: false,
    });
    expect(parseWebArgs([])).toMatchObject({ web: false, port: 0, open: true, overrides: {} });
    expect(() => parseWebArgs(['--engine', 'ruby'])).toThrow(/--engine must be one of node, python; got "ruby"/);
    expect(() => parseWebArgs(['-n', 'x'])).toThrow(/whole number/);
    expect(() => parseWebArgs(['--bogus'])).toThrow();
  });

  it('keeps only its own options from a command line with Electrons and Chromiums', () => {
    expect(pickAppArgs(['--inspect=0', '--remote-debugging-port=0', '/app/dist/main/electron/main.js', '-n', '4', '--engine=node', '--no-sandbox', '--attach'])).toEqual(['-n', '4', '--engine=node', '--attach']);
  });

  it('opens a browser only where there is one, never in CI or tests', () => {
    expect(canOpenBrowser({ DISPLAY: ':0' }, 'linux')).toBe(true);
    expect(canOpenBrowser({}, 'linux')).toBe(false);
    expect(canOpenBrowser({ DISPLAY: ':0', CI: 'true' }, 'linux')).toBe(false);
    expect(canOpenBrowser({ NODE_TEST_CONTEXT: 'child' }, 'darwin')).toBe(false);
    expect(canOpenBrowser({}, 'darwin')).toBe(true);
  });
});
