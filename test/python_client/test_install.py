"""The documented install (`python3 engines/python/multiengine install`) for both Pythons of this
machine (pyenv's python3 and Debian's /usr/bin/python3), each then driving a real cluster."""

import os
import shutil
import subprocess
import tempfile
import unittest

from cluster import ENGINES, Cluster

PYTHONS = [p for p in ('python3', '/usr/bin/python3') if shutil.which(p)]
SCRIPT = """
import site, sys
site.addsitedir(sys.argv[1])
import multiengine
rc = multiengine.Client(sys.argv[2])
print(rc[0].apply_sync(lambda x: x * 2, 21), multiengine.__file__.startswith(sys.argv[3]))
rc.close()
"""


class InstallTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.cluster = Cluster(1, 'python')

    @classmethod
    def tearDownClass(cls):
        cls.cluster.stop()

    def test_install_for_each_python(self):
        self.assertTrue(PYTHONS)
        for py in PYTHONS:
            with self.subTest(python=py):
                site_dir = tempfile.mkdtemp(prefix='me-site-')
                try:
                    env = {k: v for k, v in os.environ.items() if k != 'PYTHONPATH'}
                    r = subprocess.run([py, os.path.join(ENGINES, 'multiengine'), 'install', '--target', site_dir],
                                       env=env, capture_output=True, text=True, timeout=60)
                    self.assertEqual(r.returncode, 0, r.stderr)
                    with open(os.path.join(site_dir, 'multiengine.pth')) as f:
                        self.assertEqual(f.read().strip(), ENGINES)
                    script = os.path.join(site_dir, 'use_it.py')  # (a lambda from `python -c` has no source to send)
                    with open(script, 'w') as f:
                        f.write(SCRIPT)
                    r = subprocess.run([py, script, site_dir, self.cluster.file, ENGINES], env=env,
                                       cwd=site_dir, capture_output=True, text=True, timeout=60)
                    self.assertEqual(r.returncode, 0, r.stderr)
                    self.assertEqual(r.stdout.split(), ['42', 'True'])
                finally:
                    shutil.rmtree(site_dir, ignore_errors=True)

    def test_path_and_usage(self):
        r = subprocess.run(['python3', os.path.join(ENGINES, 'multiengine'), 'path'], capture_output=True, text=True)
        self.assertEqual(r.stdout.strip(), ENGINES)
        r = subprocess.run(['python3', os.path.join(ENGINES, 'multiengine'), 'bogus'], capture_output=True, text=True)
        self.assertEqual(r.returncode, 2)
        self.assertIn('install [--user | --target DIR]', r.stdout)


if __name__ == '__main__':
    unittest.main()
