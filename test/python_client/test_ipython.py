"""In IPython, the first Client() registers the %px magics on all engines (as ipyparallel's
does), through multiengine.magics.register(view, suffix); later Clients do not again."""

import os
import shutil
import subprocess
import tempfile
import unittest

from cluster import ENGINES, Cluster

IPYTHON = shutil.which('ipython3') or shutil.which('ipython')
SESSION = """
import sys, types
calls = []
stub = types.ModuleType('multiengine.magics')
stub.register = lambda view, suffix: calls.append((view.targets, suffix))
sys.modules['multiengine.magics'] = stub
import multiengine
rc = multiengine.Client(sys.argv[1])
rc2 = multiengine.Client(sys.argv[1])
print('CALLS', calls)
"""


@unittest.skipIf(IPYTHON is None, 'no ipython3 on PATH')
class IPythonActivationTest(unittest.TestCase):
    def test_first_client_activates_the_magics(self):
        cluster = Cluster(1, 'python')
        folder = tempfile.mkdtemp(prefix='me-ipython-')
        try:
            script = os.path.join(folder, 'session.ipy')
            with open(script, 'w') as f:
                f.write(SESSION)
            env = dict(os.environ, PYTHONPATH=ENGINES, IPYTHONDIR=folder)
            r = subprocess.run([IPYTHON, '--quick', '--no-banner', script, cluster.file], env=env,
                               capture_output=True, text=True, timeout=120)
            self.assertEqual(r.returncode, 0, r.stderr + r.stdout)
            self.assertIn("CALLS [('all', '')]", r.stdout)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
            cluster.stop()


if __name__ == '__main__':
    unittest.main()
