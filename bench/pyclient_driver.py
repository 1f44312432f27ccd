"""The Python client's side of `npm run bench` (kind "pyclient"): Multiengine's Python client and
Python engines, on the scenarios ipp_driver.py measures for ipyparallel (same names, same
repetitions, a cluster of 4 engines, engine 0 for the single-engine figures), run with the same
interpreter (Debian's /usr/bin/python3) so the two stand side by side in one run.
The cluster is `multiengine start` (the default controller settings) in a temporary directory,
stopped in a `finally`."""
import os
import signal
import subprocess
import sys
import tempfile
import shutil

from driver_common import client_scenarios, emitter

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..'))
sys.path.insert(0, os.path.join(ROOT, 'engines', 'python'))
import multiengine  # noqa: E402

QUICK = '--quick' in sys.argv
N = 4
emit = emitter('pyclient', N)


def start_cluster(directory):
    proc = subprocess.Popen(['node', os.path.join(ROOT, 'bin', 'multiengine.js'), 'start', '-n', str(N), '--engine', 'python',
                             '--python', sys.executable], env=dict(os.environ, MULTIENGINE_DIR=directory),
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    for line in proc.stdout:
        if line.startswith('press Ctrl-C'):
            return proc
    raise RuntimeError('the cluster did not start (exit %s)' % proc.wait())


def main():
    import numpy as np
    directory = tempfile.mkdtemp(prefix='me-bench-pyclient-')
    proc = start_cluster(directory)
    try:
        rc = multiengine.Client(os.path.join(directory, 'profile_default', 'security', 'multiengine-client.json'))
        rc.wait_for_engines(N)
        client_scenarios(rc, np, emit, QUICK, lambda: None, lambda x: x)
        rc.close()
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(directory, ignore_errors=True)


if __name__ == '__main__':
    main()
