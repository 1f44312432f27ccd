"""Real clusters for the Python client's tests: `multiengine start` (the package's CLI) in a
temporary MULTIENGINE_DIR, stopped by SIGINT (which stops the controller and its engines)."""

import os
import signal
import unittest
import subprocess
import sys
import tempfile
import time
import shutil

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
ENGINES = os.path.join(ROOT, 'engines', 'python')
if ENGINES not in sys.path:
    sys.path.insert(0, ENGINES)

import multiengine  # noqa: E402


class Cluster(object):
    """A controller and `n` engines of `engine` ('python' or 'node'), its task database `db`
    (none unless a test is about it); `client()` connects to it."""

    def __init__(self, n=2, engine='python', extra=(), db='none'):
        self.dir = tempfile.mkdtemp(prefix='me-pyclient-')
        env = dict(os.environ, MULTIENGINE_DIR=self.dir, PYTHONPATH=ENGINES)
        cmd = ['node', os.path.join(ROOT, 'bin', 'multiengine.js'), 'start', '-n', str(n), '--engine', engine,
               '--db', db] + list(extra)
        self.proc = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True)
        self.file = os.path.join(self.dir, 'profile_default', 'security', 'multiengine-client.json')
        out = []
        for line in self.proc.stdout:
            out.append(line)
            if line.startswith('press Ctrl-C'):
                break
        else:
            raise RuntimeError('the cluster did not start:\n' + ''.join(out))

    def client(self, **kwargs):
        return multiengine.Client(self.file, **kwargs)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc.stdout.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def poll(condition, timeout=20.0, what='the condition'):
    """Waits until condition() is true (no fixed sleeps); AssertionError after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError('timed out waiting for %s' % what)
        time.sleep(0.02)


def process_gone(pid):
    """True once no process has `pid` (a child of this process must also have been waited for)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


class ClusterCase(unittest.TestCase):
    """A fresh cluster of two Python engines and a client to it for each test."""

    def setUp(self):
        self.cluster = Cluster(2, 'python')
        self.rc = self.cluster.client()

    def tearDown(self):
        self.rc.close()
        self.cluster.stop()
