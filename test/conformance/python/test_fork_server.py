"""The fork server (multiengine_python/fork_server.py) through its stdin/stdout protocol, as the
local launcher (core/launch/forkServer.ts) speaks it: bad requests are answered, not fatal; each
child's output and end come back under its own pid; the server exits when stdin closes and its
children have ended."""

import json
import os
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fake_controller import ENGINE_DIR  # noqa: E402

SCRIPT = os.path.join(ENGINE_DIR, 'multiengine_engine.py')


def run_server(lines):
    proc = subprocess.run([sys.executable, SCRIPT, '--fork-server'], input=''.join(l + '\n' for l in lines),
                          capture_output=True, text=True, timeout=60)
    return proc.returncode, [json.loads(l) for l in proc.stdout.splitlines()], proc.stderr


@unittest.skipUnless(hasattr(os, 'fork'), 'no fork on this system')
class ForkServerTest(unittest.TestCase):
    def test_bad_requests_are_reported_and_the_server_serves_on(self):
        code, out, err = run_server(['not json', '[1]', '{"seq": 1, "args": "--id 3"}',
                                     '{"seq": 2, "args": ["--file", "/nonexistent/e.json"]}'])
        self.assertEqual(code, 0)
        self.assertIn('a request is a JSON object', err)
        self.assertEqual(err.count('a request is a JSON object'), 2)
        self.assertIn({'seq': 1, 'error': 'args must be a list of strings'}, out)
        forked = [m for m in out if m.get('seq') == 2]
        self.assertEqual(len(forked), 1)
        self.assertIn('pid', forked[0])

    def test_each_child_reports_its_own_output_and_end(self):
        code, out, _ = run_server(['{"seq": 1, "args": ["--file", "/nonexistent/a.json"]}',
                                   '{"seq": 2, "args": ["--id", "x"]}'])
        self.assertEqual(code, 0)
        pids = {m['seq']: m['pid'] for m in out if 'pid' in m}
        self.assertEqual(sorted(pids), [1, 2])
        self.assertNotEqual(pids[1], pids[2])
        text = {pid: ''.join(m['data'] for m in out if m.get('out') == pid) for pid in pids.values()}
        self.assertIn('no connection file at /nonexistent/a.json', text[pids[1]])
        self.assertIn("--id must be an integer, got 'x'", text[pids[2]])
        self.assertNotIn('--id must be', text[pids[1]])
        ends = {m['exit']: (m['code'], m['signal']) for m in out if 'exit' in m}
        self.assertEqual(ends, {pids[1]: (1, None), pids[2]: (1, None)})
        # Every child's output comes before its exit.
        for pid in pids.values():
            last_out = max(i for i, m in enumerate(out) if m.get('out') == pid)
            self.assertLess(last_out, [i for i, m in enumerate(out) if m.get('exit') == pid][0])


if __name__ == '__main__':
    unittest.main()
