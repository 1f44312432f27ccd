/**
 * The seeds' IPython sessions, typed verbatim into Debian's ipython3 in a real pty against
 * four real Python engines (what `multiengine start -n 4 --engine python` starts, in a private
 * MULTIENGINE_DIR, default profile), comparing what IPython prints with the transcripts in
 * test/integration/ipython/, one session per file, each file saying which seed it replays:
 * mec-*.txt, IPython 0.10's MultiEngineClient tutorial (`from multiengine.kernel import client`);
 * direct-*.txt, the same sections with the direct interface and the %px magics
 * (`from multiengine import Client`), as test/integration/seeds.test.ts replays them in
 * JavaScript; python-engine-seeds.txt, issue 3's Python-engine replay of
 * test/conformance/pythonSeeds.test.ts. Then Ctrl-C during a %px, and a notebook run by
 * jupyter-nbconvert.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startTestCluster, type TestCluster } from './fixture.ts';
import { IPythonSession } from '../harness/ipythonSession.ts';
import { byEngine, matchesTranscript, parseTranscript } from '../harness/transcript.ts';
import { requireExecutable } from '../harness/fixtureRequirements.ts';
import { repoRoot } from '../console/pty.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const sessions = path.join(here, 'ipython');

/** A cluster like `multiengine start -n 4 --engine python` (default profile) and ipython3 on it. */
async function startSession(): Promise<{ tc: TestCluster; ip: IPythonSession }> {
  const tc = await startTestCluster({ n: 4, engine: 'python', profile: 'default' });
  const ip = new IPythonSession({ MULTIENGINE_DIR: tc.dir });
  try {
    await ip.ready();
  } catch (e) {
    await ip.close();
    await tc.stop();
    throw e;
  }
  return { tc, ip };
}

/** Hooks of a describe: a fresh cluster and ipython3 on it before its tests, both stopped after. */
function useSession(): () => { tc: TestCluster; ip: IPythonSession } {
  let s: { tc: TestCluster; ip: IPythonSession } | undefined;
  before(async () => {
    s = await startSession();
  });
  after(async () => {
    await s?.ip.close();
    await s?.tc.stop();
  });
  return () => {
    if (!s) throw new Error('the session did not start');
    return s;
  };
}

// One session per transcript, each on a fresh cluster: the engines' prompt numbers
// (`[0] In [5]:`, `Out[0:3]:`) count from 1 in every transcript.
const transcripts = fs.readdirSync(sessions).filter((f) => f.endsWith('.txt')).sort();

test('the transcripts are there', () => {
  assert.ok(transcripts.length >= 5, `transcripts in ${sessions}: ${transcripts.join(', ')}`);
});

for (const name of transcripts) {
  describe(`the seed session ${name} in ipython3`, () => {
    const session = useSession();

    test('prints what the transcript shows, cell by cell', async () => {
      const { ip } = session();
      const cells = parseTranscript(fs.readFileSync(path.join(sessions, name), 'utf8'));
      assert.ok(cells.length >= 5, `${name} has its cells`);
      // Every cell runs and every mismatch is reported, so one run shows all that differs.
      const wrong: string[] = [];
      for (const cell of cells) {
        const out = await ip.run(cell.input, 120_000);
        if (!matchesTranscript(out, cell.expected)) {
          wrong.push(`In [${cell.n}]: ${cell.input}\n--- expected:\n${cell.expected}\n--- ipython3 printed:\n${out}`);
        }
      }
      assert.equal(wrong.length, 0, `${wrong.length} of ${cells.length} cells of ${name} differ:\n\n${wrong.join('\n\n')}`);
    });
  });
}

describe('the first Client() in ipython3', () => {
  const session = useSession();

  test('activates %px on all engines, blocking, as ipyparallel does; a second Client() leaves it', async () => {
    const { ip } = session();
    await ip.run('from multiengine import Client');
    await ip.run('rc = Client()');
    const out = byEngine((await ip.run("%px print('auto')")).trim());
    assert.equal(
      out,
      ['[stdout:0] auto', '[stdout:1] auto', '[stdout:2] auto', '[stdout:3] auto'].join('\n'),
      'the first Client() in IPython activates %px through rc.activate(), whose view must block (view.block = True), as ipyparallel’s does',
    );
    await ip.run('%pxconfig --targets 1');
    await ip.run('rc2 = Client()');
    assert.equal((await ip.run("%px print('still')")).trim(), '[stdout:1] still');
  });
});

describe('%load_ext multiengine in ipython3 without a cluster', () => {
  test('says what is missing and how to go on, and the shell goes on', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'multiengine-nocluster-'));
    const ip = new IPythonSession({ MULTIENGINE_DIR: dir });
    try {
      await ip.ready();
      const out = (await ip.run('%load_ext multiengine')).trim();
      assert.equal(
        out,
        `multiengine: %px needs a running cluster: no connection file at ${dir}/profile_default/security/multiengine-client.json ` +
          '(is a cluster running? start one with: multiengine start); then %reload_ext multiengine',
      );
      assert.equal((await ip.run('print(6 * 7)')).trim(), '42');
      assert.match(await ip.run('%px 1'), /UsageError: Line magic function `%px` not found/);
    } finally {
      await ip.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('Ctrl-C in ipython3 while %px runs', () => {
  const session = useSession();

  test('interrupts the engines, which keep their namespace, and returns the prompt', async () => {
    const { tc, ip } = session();
    assert.equal((await ip.run('%load_ext multiengine')).trim(), '');
    assert.equal((await ip.run('%px import time; kept = 42')).trim(), '');
    const from = ip.output.length;
    ip.proc.write("%px print('sleeping', flush=True); time.sleep(600)\r");
    // Streamed output: each engine says it is asleep while %px still waits.
    await ip.waitFor(/(\[stdout:\d\] sleeping\n[\s\S]*){4}/, from);
    assert.doesNotMatch(ip.output.slice(from), /In \[\d+\]: $/);
    ip.interrupt();
    const out = await ip.waitFor(/\nIn \[\d+\]: $/, from);
    assert.match(out, /Received Keyboard Interrupt\. Sending SIGINT to engines all/);
    for (const id of [0, 1, 2, 3]) assert.match(out, new RegExp(`\\[${id}:execute\\]: KeyboardInterrupt`));
    assert.equal(byEngine((await ip.run('%px print(kept)')).trim()), ['[stdout:0] 42', '[stdout:1] 42', '[stdout:2] 42', '[stdout:3] 42'].join('\n'));
    assert.deepEqual(tc.rc.ids, [0, 1, 2, 3]);
  });
});

describe('a notebook with the client and %%px, run by jupyter-nbconvert --execute', () => {
  let tc: TestCluster;
  before(async () => {
    requireExecutable('/usr/bin/jupyter-nbconvert', 'jupyter-nbconvert', 'the notebook test');
    tc = await startTestCluster({ n: 4, engine: 'python', profile: 'default' });
  });
  after(() => tc?.stop());

  interface Output {
    output_type: string;
    name?: string;
    text?: string | string[];
    data?: Record<string, string | string[]>;
  }
  const text = (t: string | string[] | undefined) => (Array.isArray(t) ? t.join('') : (t ?? ''));

  test('streams each engine’s output and shows each engine’s value under Out[engine:count], with its rich formats and display() outputs', () => {
    const out = path.join(tc.dir, 'px.out.ipynb');
    const r = spawnSync(
      '/usr/bin/jupyter-nbconvert',
      ['--execute', '--to', 'notebook', '--output', out, '--ExecutePreprocessor.timeout=120', path.join(sessions, 'px.ipynb')],
      { env: { ...process.env, MULTIENGINE_DIR: tc.dir, PYTHONPATH: path.join(repoRoot, 'engines', 'python'), JUPYTER_PLATFORM_DIRS: '1' }, encoding: 'utf8', timeout: 180_000 },
    );
    assert.equal(r.status, 0, `jupyter-nbconvert failed:\n${r.stderr}`);
    const nb = JSON.parse(fs.readFileSync(out, 'utf8')) as { cells: { source: string | string[]; outputs?: Output[] }[] };
    const code = nb.cells.filter((c) => c.outputs !== undefined);
    const outputs = (i: number) => code[i].outputs ?? [];
    const stdout = (i: number) => byEngine(outputs(i).filter((o) => o.output_type === 'stream' && o.name === 'stdout').map((o) => text(o.text)).join(''));
    const shown = (i: number) => outputs(i).filter((o) => o.output_type === 'display_data').map((o) => text(o.data?.['text/plain']));

    assert.equal(text(outputs(0).find((o) => o.output_type === 'execute_result')?.data?.['text/plain']), '[0, 1, 2, 3]');
    assert.equal(stdout(1), ['[stdout:0] engine 0', '[stdout:1] engine 1', '[stdout:2] engine 2', '[stdout:3] engine 3', ''].join('\n'));
    assert.deepEqual(shown(1), ['Out[0:1]: 42', 'Out[1:1]: 42', 'Out[2:1]: 42', 'Out[3:1]: 42']);
    // --targets and --group-outputs engine: two engines, a multi-line value on the line after its header
    assert.equal(stdout(2), ['[stdout:0] hello', '[stdout:2] hello', ''].join('\n'));
    const matrix = 'array([[0, 1],\n       [2, 3]])';
    assert.deepEqual(shown(2), [`Out[0:2]: \n${matrix}`, `Out[2:2]: \n${matrix}`]);
    // %pxresult shows the last %%px again
    assert.equal(stdout(3), stdout(2));
    assert.deepEqual(shown(3), shown(2));
    // an error on the engines: one line per engine on stderr, and the notebook goes on
    const stderr = outputs(4).filter((o) => o.output_type === 'stream' && o.name === 'stderr').map((o) => text(o.text)).join('');
    assert.match(stderr, /\[0:execute\]: ZeroDivisionError: division by zero/);
    assert.match(stderr, /\[3:execute\]: ZeroDivisionError: division by zero/);
    // %autopx: the cells between the two go to the engines
    assert.equal(stdout(5), '%autopx enabled (engines all)\n');
    assert.equal(stdout(6), ['[stdout:0] autopx 0', '[stdout:1] autopx 10', '[stdout:2] autopx 20', '[stdout:3] autopx 30', ''].join('\n'));
    assert.equal(stdout(7), '%autopx disabled\n');
    assert.equal(text(outputs(8).find((o) => o.output_type === 'execute_result')?.data?.['text/plain']), '[0, 10, 20, 30]');
    // rich results: each engine's value in every format it has (here text/html), under Out[engine:count]
    const html = (i: number) => outputs(i).filter((o) => o.data?.['text/html'] !== undefined).map((o) => text(o.data?.['text/html']));
    const noCount = (s: string) => s.replace(/Out\[(\d+):\d+\]/, 'Out[$1]'); // engines 1 and 3 ran fewer cells
    assert.deepEqual(shown(9).map(noCount), [0, 1, 2, 3].map((e) => `Out[${e}]: Tag('engine ${e}')`));
    assert.deepEqual(html(9).map(noCount), [0, 1, 2, 3].map((e) => `<pre style="margin:0">Out[${e}]:</pre><b>engine ${e}</b>`));
    // display() on the engines: [output:N], then the engine's bundle (text/html with its text/plain)
    assert.equal(stdout(10), [0, 1, 2, 3].map((e) => `[stdout:${e}] before ${e}\n`).join(''));
    assert.deepEqual(shown(10), [0, 1, 2, 3].flatMap((e) => [`[output:${e}]`, `Tag('shown ${e}')`]));
    assert.deepEqual(html(10), [0, 1, 2, 3].map((e) => `<b>shown ${e}</b>`));
    // --group-outputs=order collates the outputs: every engine's first, then every engine's second
    assert.deepEqual(
      shown(11),
      ['first', 'second'].flatMap((k) => [0, 1, 2, 3].flatMap((e) => [`[output:${e}]`, `Tag('${k} ${e}')`])),
    );
  });
});
