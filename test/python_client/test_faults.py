"""Faults the Python client meets: an engine that dies under a request, a controller that goes
away, and the order of one client's requests to an engine across the direct and controller paths."""

import os
import signal
import unittest

from cluster import ClusterCase, poll, process_gone
import multiengine


def direct_ready(rc, eid):
    """Waits until this client talks to engine `eid` over a direct link (its handshake is read by a waiter)."""
    poll(lambda: rc[eid].apply_sync(lambda: 0) == 0 and eid in rc._dispatcher._links, what='the direct link to %d' % eid)


class FaultsTest(ClusterCase):
    def test_requests_keep_their_order_across_paths(self):
        rc = self.rc
        e0 = rc[0]
        direct_ready(rc, 0)
        first = e0.apply_async(lambda v: globals().__setitem__('seq', v), 0)
        self.assertIs(first._parts[0][0].route, rc._dispatcher._links[0])
        for i in range(1, 50):  # straight to engine 0
            e0.apply_async(lambda v: globals().__setitem__('seq', v), i)
        # Through the controller, to both: held back until engine 0 answered the direct ones.
        seen = rc[:].apply_async(lambda: globals().get('seq'))
        self.assertEqual(seen.get(30), [49, None])
        self.assertIn(0, rc._dispatcher._links)  # the direct path was used

    def test_the_first_request_does_not_wait_for_the_handshake(self):
        rc = self.rc
        d = rc._dispatcher
        first = rc[1].apply_async(lambda: 'first')
        self.assertIs(first._parts[0][0].route, d.ctrl)  # through the controller, the handshake in flight
        self.assertIn(1, d._connecting)
        self.assertEqual(first.get(30), 'first')
        direct_ready(rc, 1)
        self.assertIs(rc[1].apply_async(lambda: 'next')._parts[0][0].route, d._links[1])

    def test_a_burst_to_a_busy_engine_goes_out_in_few_writes(self):
        rc = self.rc
        e0 = rc[0]
        direct_ready(rc, 0)
        link = rc._dispatcher._links[0]
        writes = []

        class Counting(object):
            def __init__(self, sock):
                self._sock = sock

            def sendall(self, data):
                writes.append(1)
                return self._sock.sendall(data)

            def sendmsg(self, buffers):
                writes.append(1)
                return self._sock.sendmsg(buffers)

            def __getattr__(self, name):
                return getattr(self._sock, name)
        link.sock = Counting(link.sock)
        busy = e0.apply_async(lambda: __import__('time').sleep(0.3))
        ars = [e0.apply_async(lambda x: x, i) for i in range(200)]
        self.assertEqual([a.get(30) for a in ars], list(range(200)))
        busy.get(30)
        self.assertLess(len(writes), 100)

    def test_a_request_nobody_waits_for_still_leaves(self):
        rc = self.rc
        e0 = rc[0]
        direct_ready(rc, 0)
        e0.apply_async(lambda: __import__('time').sleep(0.2))
        e0.apply_async(lambda: globals().__setitem__('flushed', 1))  # kept back: the engine is busy
        other = self.cluster.client()
        try:
            poll(lambda: other[0].apply_sync(lambda: globals().get('flushed')) == 1, what='the kept request to run')
        finally:
            other.close()

    def test_engine_death_is_an_engine_error(self):
        rc = self.rc
        pid = rc[1].apply_sync(lambda: __import__('os').getpid())
        running = rc[1].apply_async(lambda: __import__('time').sleep(60))
        poll(lambda: rc.queue_status(1)['running'] == 1, what='engine 1 to run the sleep')
        os.kill(pid, signal.SIGKILL)
        with self.assertRaises(multiengine.EngineError) as cm:
            running.get(30)
        self.assertIn('engine 1', str(cm.exception))
        poll(lambda: rc.ids == [0], what='engine 1 to be gone from rc.ids')
        with self.assertRaisesRegex(multiengine.EngineError, 'engine 1 is dead'):
            rc.direct_view(1).apply_sync(lambda: 1)
        self.assertEqual(rc[0].apply_sync(lambda: 'the other engine is fine'), 'the other engine is fine')

    def test_ctrl_c_while_reading_leaves_the_connections_in_step(self):
        import threading
        import numpy as np
        rc = self.rc
        e0 = rc[0]
        direct_ready(rc, 0)
        big = np.arange(8 * 2 ** 20, dtype=np.float64)  # 64 MiB: the reply takes many reads
        e0.push({'big': big}, block=True)
        interrupted = 0
        for delay in (0.001, 0.005, 0.01, 0.02, 0.04, 0.08):
            ar = e0.pull('big')
            timer = threading.Timer(delay, os.kill, (os.getpid(), signal.SIGINT))
            try:
                timer.start()  # on a busy machine the SIGINT may land before start() returns
                ar.wait(30)
                poll(lambda: not timer.is_alive(), what='the timer')
                e0.apply_sync(lambda: 0)  # the SIGINT lands somewhere: here at the latest
            except KeyboardInterrupt:
                interrupted += 1
            timer.join()
            np.testing.assert_array_equal(ar.get(30), big)
            self.assertEqual(e0.apply_sync(lambda x: x + 1, 1), 2)
        self.assertEqual(interrupted, 6)
        e0.push({'big2': big}, block=True)
        for delay in (0.001, 0.01, 0.03):  # and while a push is being written
            timer = threading.Timer(delay, os.kill, (os.getpid(), signal.SIGINT))
            try:
                timer.start()
                ar = e0.push({'big2': big})
                ar.wait(30)
                poll(lambda: not timer.is_alive(), what='the timer')
                e0.apply_sync(lambda: 0)
            except KeyboardInterrupt:
                pass
            timer.join()
            self.assertEqual(e0.apply_sync(lambda: len(big2)), len(big))  # noqa: F821

    def test_lost_controller(self):
        rc = self.rc
        rc[0].apply_sync(lambda: 0)
        running = rc[:].apply_async(lambda: __import__('time').sleep(1))
        os.kill(rc.connection_info['controller_pid'], signal.SIGKILL)
        with self.assertRaisesRegex(multiengine.CompositeError, 'lost the connection to the controller'):
            running.get(30)
        # `multiengine start` restarted it on the same port and key: the client connects again
        # (test_reconnect.py: when it cannot)
        poll(lambda: rc.ids == [0, 1], 30, 'the client to connect again and see both engines')
        self.assertEqual(rc[:].apply_sync(lambda: 1), [1, 1])

    def test_shutdown(self):
        rc = self.rc
        rc.shutdown(targets=1)
        poll(lambda: rc.ids == [0], what='engine 1 to stop')
        self.assertEqual(list(rc[:].map_async(lambda x: x + 1, [1, 2])), [2, 3])
        self.assertEqual(rc[:].map_async(lambda x: x + 1, [1, 2])[1], 3)
        pid = rc.connection_info['controller_pid']
        rc.shutdown(hub=True)
        poll(lambda: process_gone(pid), what='the controller to exit')
        # `multiengine start` sees it, stops and exits 0, its engines gone and its files removed
        self.assertEqual(self.cluster.proc.wait(20), 0)
        self.assertIn('the controller was shut down by a client', self.cluster.proc.stdout.read())
        self.assertFalse(os.path.exists(self.cluster.file))

    def test_too_large_message_is_refused_before_sending(self):
        rc = self.rc
        rc._dispatcher.max_message_bytes = 1000
        with self.assertRaisesRegex(multiengine.MessageTooLargeError, 'push: the message is .* more than the maximum message size of 1000 bytes'):
            rc[0].push({'big': 'x' * 2000})


if __name__ == '__main__':
    unittest.main()
