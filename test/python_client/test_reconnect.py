"""A Python Client after its controller goes away, as the TypeScript client behaves: a controller
restarted on the same profile (same port and key) is connected to again on the next call, and
the engines' namespaces are still there; a controller that does not come back within the
advised reconnect time, or a connection file now holding another controller's key, is a clear
ConnectionError on the next call, never a hang; a clean shutdown (the file removed) is one too."""

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import unittest

from cluster import ROOT, ClusterCase, poll

import multiengine

CONTROLLER = os.path.join(ROOT, 'dist', 'core', 'controller', 'main.js')


class Controller(object):
    """A controller process alone (no engines) in `folder`, with a short reconnect time."""

    def __init__(self, folder, reconnect_ms):
        self.proc = subprocess.Popen(['node', CONTROLLER, '--profile', 'default', '--dir', folder, '--db', 'none',
                                      '--reconnect-ms', str(reconnect_ms)],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        ready = json.loads(self.proc.stdout.readline())
        self.file = ready['client_file']
        self.pid = ready['pid']

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self.proc.stdout.close()


class RestartOnTheSameProfile(ClusterCase):
    def test_the_next_call_connects_again_and_the_namespaces_are_kept(self):
        rc = self.rc
        rc[:].push({'a': 5}, block=True)
        first = rc.connection_info['controller_pid']
        in_flight = rc.load_balanced_view().apply_async(lambda: __import__('time').sleep(1.5))
        os.kill(first, signal.SIGKILL)  # `multiengine start` runs a new one: same port, same key
        self.assertEqual(rc.connection_info['controller_pid'], first)
        with self.assertRaises(multiengine.RemoteError) as cm:
            in_flight.get(30)
        self.assertIn('lost the connection to the controller', str(cm.exception))
        self.assertIn('rc.get_result(%r)' % in_flight.msg_ids[0], str(cm.exception))
        self.assertEqual(rc.connection_state, 'reconnecting')
        poll(lambda: rc.ids == [0, 1], 30, 'the client to connect again and see both engines')
        self.assertEqual(rc.connection_state, 'connected')
        self.assertEqual(rc[:].apply_sync(lambda: a), [5, 5])  # noqa: F821 (a is on the engines)
        self.assertEqual(rc._dispatcher.reconnector.reconnects, 1)
        self.assertEqual(rc.load_balanced_view().apply_sync(lambda: a * 2), 10)  # noqa: F821


class ControllerGone(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix='me-reconnect-')
        self.controllers = []

    def tearDown(self):
        for c in self.controllers:
            c.kill()
        shutil.rmtree(self.dir, ignore_errors=True)

    def start(self, reconnect_ms):
        c = Controller(self.dir, reconnect_ms)
        self.controllers.append(c)
        return c

    def test_no_controller_within_the_reconnect_time_is_an_error_naming_it(self):
        c = self.start(1000)
        rc = multiengine.Client(c.file)
        self.assertEqual(rc.queue_status(), {'unassigned': 0})
        c.kill()
        poll(lambda: rc.connection_state == 'reconnecting', what='the client to notice')
        t0 = time.monotonic()
        with self.assertRaisesRegex(multiengine.ConnectionError, 'could not connect again: no controller answered within 1 s; make a new Client'):
            rc.queue_status()
        self.assertLess(time.monotonic() - t0, 15, 'it gave up (a bound on a hang, not a speed check)')
        with self.assertRaisesRegex(multiengine.ConnectionError, 'no controller answered within 1 s'):
            rc.queue_status()  # closed now: the same words, at once
        rc.close()

    def test_another_controller_on_the_file_is_not_joined(self):
        c = self.start(20000)
        rc = multiengine.Client(c.file)
        rc.queue_status()
        c.kill()
        poll(lambda: rc.connection_state == 'reconnecting', what='the client to notice')
        other = self.start(20000)  # a new key in the same connection file
        self.assertEqual(other.file, c.file)
        with self.assertRaisesRegex(multiengine.ConnectionError, 'now belongs to another controller \\(a different key\\)'):
            rc.queue_status()
        rc.close()
        with multiengine.Client(other.file) as fresh:
            self.assertEqual(fresh.queue_status(), {'unassigned': 0})

    def test_a_clean_shutdown_is_an_error_at_once(self):
        c = self.start(20000)
        rc = multiengine.Client(c.file)
        rc.shutdown(hub=True)
        poll(lambda: c.proc.poll() is not None, what='the controller to exit')
        self.assertEqual(rc.connection_state, 'closed')  # it removed its connection file: it will not come back
        with self.assertRaisesRegex(multiengine.ConnectionError, 'lost its controller .*make a new Client'):
            rc.queue_status()
        rc.close()


if __name__ == '__main__':
    unittest.main()
