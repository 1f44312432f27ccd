"""Direct connections (docs/protocol.md section 13): the real engine process, a fake controller and
fake clients that connect to the engine directly; then the listener's parts in-process.

Run: python3 -m unittest discover -s test/conformance/python
"""

import io
import os
import queue
import socket
import struct
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fake_controller import ENGINE_DIR, FakeController, Peer, write_frame  # noqa: E402

sys.path.insert(0, ENGINE_DIR)
from multiengine_python import direct as me_direct  # noqa: E402
from multiengine_python import wire as me_wire  # noqa: E402

ENGINE_ID = 3
SLOW = 'import time\ntime.sleep(%s)\n'
STARTED = "print('started', flush=True)\n"


def wait_activity(peer, pred, timeout=5.0):
    """The first engine_activity report whose content satisfies pred."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            m = peer.activity.get(timeout=max(0.01, deadline - time.monotonic()))
        except queue.Empty:
            raise AssertionError('no such engine_activity report within %s s' % timeout)
        if pred(m.content):
            return m


def start_slow(fc, seconds, peer=None, then=''):
    """Sends a request that runs for `seconds` and returns its header once it runs (its first stream came)."""
    h = fc.send('execute_request', {'code': STARTED + SLOW % seconds + then}, peer=peer)
    m = (peer or fc.main).recv()
    assert m.msg_type == 'stream' and m.parent_header == h, m
    return h


def activity(peer):
    """The engine_activity reports received so far."""
    out = []
    try:
        while True:
            out.append(peer.activity.get_nowait())
    except queue.Empty:
        return out


class DirectBase(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.fc = FakeController(heartbeat_ms=100, engine_id=ENGINE_ID, requested_id=ENGINE_ID)
        cls.d = cls.fc.direct()

    @classmethod
    def tearDownClass(cls):
        cls.fc.close()

    def setUp(self):
        activity(self.fc.main)

    def request(self, msg_type, content, peer=None, buffers=()):
        fc = self.fc
        return fc.collect(fc.send(msg_type, content, buffers, peer=peer or self.d), peer=peer or self.d)

    def ok(self, msg_type, content, peer=None, buffers=()):
        reply, _ = self.request(msg_type, content, peer, buffers)
        self.assertEqual(reply.content.get('status'), 'ok', reply.content)
        return reply

    def settle(self):
        """Waits until the engine's last activity report is out: the direct state is idle again."""
        time.sleep(0.1)
        return activity(self.fc.main)

    def wait_queued(self, n):
        """Waits until the engine reports n direct requests queued (so they arrived)."""
        return wait_activity(self.fc.main, lambda c: c['direct_queued'] == n)


class TestListenerAndHandshake(DirectBase):
    def test_registration_carries_the_direct_address(self):
        d = self.fc.registration.content['direct']
        self.assertEqual(set(d), {'ip', 'port'})
        self.assertEqual(d['ip'], '127.0.0.1')  # the local address of the main connection
        self.assertIsInstance(d['port'], int)
        self.assertGreater(d['port'], 0)

    def test_handshake_ok(self):
        peer = self.fc.direct()  # checks the reply
        self.assertEqual(self.ok('keys_request', {}, peer).metadata['engine_id'], ENGINE_ID)
        peer.close()

    def test_wrong_uuid_is_an_engine_error_then_closed(self):
        peer = self.fc.connect_direct()
        h = peer.send('engine_connect_request', {'engine_uuid': 'not-me'})
        r = peer.recv()
        self.assertTrue(r.signature_ok)
        self.assertEqual((r.msg_type, r.parent_header), ('engine_connect_reply', h))
        self.assertEqual(r.content, {'status': 'error', 'ename': 'EngineError', 'traceback': [],
                                     'evalue': 'this is engine %d (uuid %s), not not-me' % (ENGINE_ID, self.fc.uuid)})
        peer.wait_closed()

    def test_bad_signature_first_is_closed_at_once(self):
        peer = self.fc.connect_direct()
        peer.send('engine_connect_request', {'engine_uuid': self.fc.uuid}, key=b'wrong key')
        peer.wait_closed(1.0)
        self.assertTrue(peer.inbox.empty())

    def test_malformed_or_other_first_message_is_closed(self):
        peer = self.fc.connect_direct()
        write_frame(peer.sock, [b'', b'not json'])
        peer.wait_closed(1.0)
        peer = self.fc.connect_direct()
        self.fc.send('execute_request', {'code': 'first_without_handshake = 1'}, peer=peer)
        peer.wait_closed(1.0)
        self.assertTrue(peer.inbox.empty())
        c, _ = self.fc.request('pull_request', {'names': ['first_without_handshake']})
        self.assertEqual(c.content['ename'], 'NameError')

    def test_a_bad_message_after_the_handshake_is_dropped(self):
        peer = self.fc.direct()
        peer.send('execute_request', {'code': 'pwned = 1'}, metadata={'targets': [ENGINE_ID]}, key=b'wrong')
        self.assertEqual(self.ok('execute_request', {'code': '"open"'}, peer).content['result'], "'open'")
        self.assertEqual(self.request('pull_request', {'names': ['pwned']}, peer)[0].content['ename'], 'NameError')
        peer.close()


class TestDirectRequests(DirectBase):
    def test_execute_streams_and_reply_on_the_direct_connection(self):
        reply, streams = self.request('execute_request', {
            'code': "import sys, time\nprint('hello')\ntime.sleep(0.3)\nprint('oops', file=sys.stderr)\n6*7"})
        self.assertEqual(reply.content['result'], '42')
        self.assertEqual([(s.content['name'], s.content['text']) for s in streams],
                         [('stdout', 'hello\n'), ('stderr', 'oops\n')])
        self.assertGreater(reply.received - streams[0].received, 0.15)  # streamed while it ran
        for m in streams + [reply]:
            self.assertTrue(m.signature_ok)
            self.assertNotIn('orphan', m.metadata)
        self.assertEqual(streams[0].metadata, {'engine_id': ENGINE_ID})
        self.assertEqual(set(reply.metadata), {'engine_id', 'received', 'started', 'completed'})
        self.assertLessEqual(reply.metadata['received'], reply.metadata['started'])  # ISO strings compare as times
        self.fc.main.expect_nothing(0.1)

    def test_apply_with_buffers(self):
        r = self.ok('apply_request', {'fn': 'lambda b: (len(b), b[::-1])', 'args': [{'$t': 'bytes', 'buf': 0}]},
                    buffers=[b'abc' * 50000])
        n, tag = r.content['result']
        self.assertEqual(n, 150000)
        self.assertEqual(bytes(r.buffers[tag['buf']]), b'cba' * 50000)

    def test_push_pull_share_the_namespace_with_the_main_connection(self):
        self.ok('push_request', {'ns': {'shared_v': [1, 2]}})
        self.assertEqual(self.fc.pull(['shared_v'])[0], [[1, 2]])

    def test_targets_must_be_this_engine_only(self):
        for md in ({'targets': [0]}, {'targets': [ENGINE_ID, 4]}, {'targets': [True]}, {'targets': []}, {}):
            h = self.d.send('execute_request', {'code': 'wrong_target = 1'}, metadata=md)
            reply, _ = self.fc.collect(h, peer=self.d)
            self.assertEqual(reply.content['ename'], 'ProtocolError', md)
            self.assertIn('targets', reply.content['evalue'])
        self.assertEqual(self.request('pull_request', {'names': ['wrong_target']})[0].content['ename'], 'NameError')

    def test_other_message_types_are_ignored(self):
        self.d.send('status_request', {})
        self.d.send('shutdown_request', {})
        self.assertEqual(self.ok('execute_request', {'code': '"alive"'}).content['result'], "'alive'")

    def test_replays_are_dropped(self):
        self.fc.execute('replayed = 0')
        h = self.fc.send('execute_request', {'code': 'replayed += 1'}, peer=self.d)
        self.fc.collect(h, peer=self.d)
        self.fc.send('execute_request', {'code': 'replayed += 1'}, peer=self.d, msg_id=h['msg_id'])
        other = self.fc.direct()
        self.fc.send('execute_request', {'code': 'replayed += 1'}, peer=other, msg_id=h['msg_id'])
        on_main = self.fc.send('execute_request', {'code': 'replayed += 10'})
        self.fc.collect(on_main)
        self.fc.send('execute_request', {'code': 'replayed += 10'}, peer=self.d, msg_id=on_main['msg_id'])
        self.assertEqual(self.fc.execute('replayed')['result'], '11')
        self.d.expect_nothing(0.1)
        other.expect_nothing(0.0)
        other.close()

    def test_main_and_direct_requests_share_one_queue(self):
        self.fc.execute('order = []')
        hs = [(start_slow(self.fc, 1.0, then='order.append(0)'), None)]
        queued = 0
        for i, peer in enumerate([self.d, None, self.d, self.d, None], 1):
            hs.append((self.fc.send('execute_request', {'code': 'order.append(%d)' % i}, peer=peer), peer))
            if peer is None:
                time.sleep(0.1)  # it arrived: the engine reads its connections at once
            else:
                queued += 1
                self.wait_queued(queued)
        for h, peer in hs:
            self.fc.collect(h, peer=peer)
        self.assertEqual(self.fc.execute('order')['result'], '[0, 1, 2, 3, 4, 5]')

    def test_replies_of_a_burst_are_not_held_while_a_later_request_runs(self):
        # replies of requests that run back to back go out together, at most ~1 ms late
        quick = [self.fc.send('keys_request', {}, peer=self.d) for _ in range(20)]
        slow = self.fc.send('execute_request', {'code': SLOW % 2 + "print('done')"}, peer=self.d)
        t0 = time.monotonic()
        for h in quick:
            self.fc.collect(h, peer=self.d)
        self.assertLess(time.monotonic() - t0, 1.0)
        reply, streams = self.fc.collect(slow, peer=self.d)
        self.assertEqual((reply.content['status'], [m.content['text'] for m in streams]), ('ok', ['done\n']))

    def test_abort_from_the_controller_answers_on_the_direct_connection(self):
        slow = start_slow(self.fc, 0.5, then='"slow"')
        queued = [self.fc.send('execute_request', {'code': 'aborted_%d = 1' % i}, peer=self.d) for i in range(3)]
        self.wait_queued(3)
        self.fc.send('abort_request', {'msg_ids': [queued[1]['msg_id']]})
        m = self.d.recv(0.3)  # at once, while the slow one runs
        self.assertEqual((m.msg_type, m.parent_header, m.content), ('execute_reply', queued[1], {'status': 'aborted'}))
        self.fc.interrupt([queued[2]['msg_id']])  # a timeout's interrupt drops queued requests too
        m = self.d.recv(0.3)
        self.assertEqual((m.parent_header, m.content), (queued[2], {'status': 'aborted'}))
        self.assertEqual(self.fc.collect(slow)[0].content['result'], "'slow'")
        self.assertEqual(self.fc.collect(queued[0], peer=self.d)[0].content['status'], 'ok')
        self.assertEqual(self.fc.execute('[n for n in dir() if n.startswith("aborted_")]')['result'], "['aborted_0']")

    def test_interrupt_reaches_a_running_direct_request(self):
        h = start_slow(self.fc, 30, self.d)
        time.sleep(0.3)  # inside time.sleep: a SIGINT just before it would wait for it to end (CPython)
        self.fc.interrupt([h['msg_id']])
        reply, _ = self.fc.collect(h, timeout=5, peer=self.d)
        self.assertEqual(reply.content['ename'], 'KeyboardInterrupt')


class TestOrphans(DirectBase):
    def test_a_closed_connection_sends_the_rest_to_the_controller(self):
        peer = self.fc.direct()
        running = self.fc.send('execute_request', {'code': "print('before')\n" + SLOW % 0.3 + "print('after')\n7"},
                               peer=peer)
        queued = self.fc.send('execute_request', {'code': "print('queued')\n8"}, peer=peer)
        first = peer.recv()
        self.assertEqual(first.content['text'], 'before\n')
        peer.close()
        notice = wait_activity(self.fc.main, lambda c: 'orphaned' in c)
        self.assertEqual(notice.content['orphaned'], [running, queued])  # at once, the running one first
        self.assertEqual(notice.content['direct_queued'], 1)
        for h, text, result in ((running, 'after\n', '7'), (queued, 'queued\n', '8')):
            reply, streams = self.fc.collect(h)
            self.assertLess(notice.received, reply.received)
            self.assertEqual([s.content['text'] for s in streams], [text])
            self.assertEqual(reply.content['result'], result)
            for m in streams + [reply]:
                self.assertTrue(m.signature_ok)
                self.assertIs(m.metadata.get('orphan'), True)
                self.assertEqual(m.metadata['engine_id'], ENGINE_ID)
        self.assertEqual(self.ok('execute_request', {'code': '"others unaffected"'}).metadata.get('orphan'), None)


class TestActivity(DirectBase):
    def test_reported_before_user_code_runs_and_when_done(self):
        time.sleep(0.05)  # a quiet moment: the report goes out at once
        h = self.fc.send('execute_request', {'code': SLOW % 0.1 + "print('x')"}, peer=self.d)
        _, streams = self.fc.collect(h, peer=self.d)
        reports = activity(self.fc.main) + self.settle()
        running = [r for r in reports if r.content['direct_running']]
        self.assertTrue(running, reports)
        task = running[0].content['direct_running']
        self.assertEqual((task['msg_id'], task['msg_type']), (h['msg_id'], 'execute_request'))
        self.assertRegex(task['started'], r'^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$')
        self.assertLess(running[0].received, streams[0].received)
        last = reports[-1].content
        self.assertEqual((last['direct_running'], last['direct_queued']), (None, 0))
        self.assertGreater(last['direct_done'], 0)
        for r in reports:
            self.assertTrue(r.signature_ok)
            self.assertEqual(r.parent_header, {})

    def test_counts_queued_and_done_and_is_throttled(self):
        self.settle()
        done = self._done()
        slow = start_slow(self.fc, 0.3, self.d)
        quick = [self.fc.send('keys_request', {}, peer=self.d) for _ in range(2)]
        mid = self.wait_queued(2).content
        self.assertEqual(mid['direct_running']['msg_id'], slow['msg_id'])
        for h in [slow] + quick:
            self.fc.collect(h, peer=self.d)
        self.settle()
        t0 = time.monotonic()
        for _ in range(100):
            self.ok('keys_request', {})
        reports = self.settle()
        self.assertEqual(reports[-1].content, {'direct_running': None, 'direct_queued': 0, 'direct_done': done + 103})
        # not one per request: one per interval, plus going idle at once (the exception), over the
        # time until the last report arrived (a loaded machine stretches it past the last reply)
        elapsed = reports[-1].received - t0
        self.assertLessEqual(len(reports), 2 * (elapsed / me_direct.ACTIVITY_SECONDS + 1))

    def test_going_idle_is_reported_before_the_reply(self):
        done = self._done()
        self.ok('keys_request', {})  # so the next one starts within 20 ms of a report
        h = self.fc.send('execute_request', {'code': SLOW % 0.05}, peer=self.d)
        reply, _ = self.fc.collect(h, peer=self.d)
        idle = {'direct_running': None, 'direct_queued': 0, 'direct_done': done + 2}
        report = wait_activity(self.fc.main, lambda c: c == idle)
        self.assertLessEqual(report.header['date'], reply.header['date'])  # written before the reply

    def test_beats_name_the_running_request(self):
        for peer in (None, self.d):
            h = start_slow(self.fc, 0.4, peer)
            time.sleep(0.05)
            while not self.fc.heart.inbox.empty():
                self.fc.heart.inbox.get_nowait()
            beat = self.fc.heart.recv(1.0)
            self.assertEqual(beat.content['running'], {'msg_id': h['msg_id'], 'msg_type': 'execute_request'})
            self.fc.collect(h, peer=peer)
        time.sleep(0.05)
        while not self.fc.heart.inbox.empty():
            self.fc.heart.inbox.get_nowait()
        self.assertNotIn('running', self.fc.heart.recv(1.0).content)

    def test_main_connection_requests_are_not_reported(self):
        self.settle()
        self.fc.execute('1')
        time.sleep(0.05)
        self.assertEqual(activity(self.fc.main), [])

    def _done(self):
        h = self.fc.send('keys_request', {}, peer=self.d)
        self.fc.collect(h, peer=self.d)
        return self.settle()[-1].content['direct_done']


class TestMaxMessageBytes(unittest.TestCase):
    def test_a_frame_over_the_limit_closes_the_direct_connection(self):
        fc = FakeController(max_message_bytes=100000)
        try:
            peer = fc.direct()
            fc.send('push_request', {'ns': {'big': {'$t': 'bytes', 'buf': 0}}}, buffers=[b'x' * 200000], peer=peer)
            peer.wait_closed(2.0)
            self.assertTrue(peer.inbox.empty())
            c, _ = fc.request('pull_request', {'names': ['big']})
            self.assertEqual(c.content['ename'], 'NameError')
            self.assertEqual(fc.ok('keys_request', {}).content['status'], 'ok')
        finally:
            fc.close()


class TestControllerRestart(unittest.TestCase):
    def test_registers_again_with_the_same_listener_and_keeps_direct_requests(self):
        fc = FakeController(engine_id=ENGINE_ID, reconnect_ms=5000)
        try:
            d = fc.direct()
            before = fc.registration.content
            running = start_slow(fc, 0.5, d, then='1')
            queued = fc.send('execute_request', {'code': '2'}, peer=d)
            fc.send('execute_request', {'code': 'dropped_with_the_controller = 1'})
            time.sleep(0.1)
            fc.reregister()
            after = fc.registration.content
            self.assertEqual((after['resume'], after['requested_id'], after['uuid']), (True, ENGINE_ID, before['uuid']))
            self.assertEqual(after['direct'], before['direct'])
            self.assertEqual(fc.collect(running, peer=d)[0].content['execution_count'], 1)
            self.assertEqual(fc.collect(queued, peer=d)[0].content['execution_count'], 2)
            time.sleep(0.1)
            reports = activity(fc.main)
            self.assertTrue(reports, 'the new controller hears of the direct requests')
            self.assertEqual(reports[-1].content, {'direct_running': None, 'direct_queued': 0, 'direct_done': 2})
            self.assertEqual(fc.request('pull_request', {'names': ['dropped_with_the_controller']})[0].content['ename'],
                             'NameError')
            self.assertEqual(fc.collect(fc.send('keys_request', {}, peer=d), peer=d)[0].content['status'], 'ok')
        finally:
            fc.close()


# --------------------------------------------------------------------------------------
# In-process: the listener against a stub engine, and the activity reporter's timing

class StubEngine(object):
    def __init__(self, key):
        self.signer = me_wire.Signer(key)
        self.session = 'stub-session'
        self.id = 5
        self.uuid = 'stub-uuid'
        self.max_message_bytes = 1 << 20
        self.replays = me_direct.ReplayGuard(4)
        self.got = queue.Queue()

    def direct_message(self, conn, msg):
        self.got.put(msg)

    def direct_closed(self, conn):
        pass  # the listener tells its engine when a peer goes; nothing to clean up here


class TestListenerInProcess(unittest.TestCase):
    KEY = b'k' * 32

    def setUp(self):
        self.engine = StubEngine(self.KEY)
        self.listener = me_direct.DirectListener(self.engine, '127.0.0.1', socket.AF_INET)
        self.listener.start()
        self.peers = []
        self.log, me_wire._LOG = me_wire._LOG, io.StringIO()  # the listener's diagnostics

    def tearDown(self):
        me_wire._LOG = self.log
        for p in self.peers:
            p.close()
        self.listener.server.close()

    def connect(self):
        sock = socket.create_connection(('127.0.0.1', self.listener.address['port']))
        self.peers.append(Peer(sock, self.KEY))
        return self.peers[-1]

    def test_nothing_valid_within_the_handshake_time_is_closed(self):
        old = me_direct.HANDSHAKE_SECONDS
        me_direct.HANDSHAKE_SECONDS = 0.3
        try:
            t0 = time.monotonic()
            silent = self.connect()
            trickle = self.connect()
            trickle.sock.sendall(struct.pack('>II', 1000, 5))  # a frame that never completes
            silent.wait_closed(2.0)
            trickle.wait_closed(2.0)
            self.assertLess(time.monotonic() - t0, 1.5)
            ok = self.connect()
            ok.send('engine_connect_request', {'engine_uuid': 'stub-uuid'})
            self.assertEqual(ok.recv(2.0).content, {'status': 'ok', 'id': 5, 'uuid': 'stub-uuid'})
            time.sleep(0.5)
            self.assertFalse(ok.closed.is_set(), 'a connection after its handshake stays open')
        finally:
            me_direct.HANDSHAKE_SECONDS = old

    def test_a_big_first_frame_is_refused(self):
        peer = self.connect()
        peer.send('engine_connect_request', {'engine_uuid': 'stub-uuid'}, buffers=[b'x' * me_direct.HANDSHAKE_MAX_BYTES])
        peer.wait_closed(2.0)
        self.assertTrue(peer.inbox.empty())

    def test_replayed_handshake_is_closed_and_the_table_is_bounded(self):
        peer = self.connect()
        h = peer.send('engine_connect_request', {'engine_uuid': 'stub-uuid'})
        self.assertEqual(peer.recv(2.0).content['status'], 'ok')
        again = self.connect()
        again.send('engine_connect_request', {'engine_uuid': 'stub-uuid'}, msg_id=h['msg_id'])
        again.wait_closed(2.0)
        for i in range(5):
            peer.send('keys_request', {}, msg_id='m%d' % i)
        peer.send('keys_request', {}, msg_id='m4')
        got = [self.engine.got.get(timeout=2.0).header['msg_id'] for _ in range(5)]
        self.assertEqual(got, ['m0', 'm1', 'm2', 'm3', 'm4'])
        self.assertRaises(queue.Empty, self.engine.got.get, timeout=0.1)
        self.assertEqual(len(self.engine.replays.ids), 4)


class TestActivityReporter(unittest.TestCase):
    def setUp(self):
        self.interval, me_direct.ACTIVITY_SECONDS = me_direct.ACTIVITY_SECONDS, 0.2  # room for a loaded machine

    def tearDown(self):
        me_direct.ACTIVITY_SECONDS = self.interval

    def test_at_once_after_a_quiet_moment_else_after_the_interval(self):
        sent = []
        queued = [0]
        r = me_direct.ActivityReporter(lambda: queued[0], sent.append)
        req = lambda msg_id: type('M', (), {'msg_id': msg_id, 'msg_type': 'keys_request'})()  # noqa: E731
        state = lambda running, q, done: {'direct_running': running, 'direct_queued': q, 'direct_done': done}  # noqa: E731
        queued[0] = 1
        t0 = time.monotonic()
        r.changed()
        self.assertEqual(sent, [state(None, 1, 0)])  # at once, from the caller
        queued[0] = 0
        r.started(req('a'), 'T')
        self.assertEqual(len(sent), 1)  # within the interval: later, from the reporter's thread
        time.sleep(0.4)
        self.assertEqual(sent[1:], [state({'msg_id': 'a', 'msg_type': 'keys_request', 'started': 'T'}, 0, 0)])
        self.assertGreaterEqual(time.monotonic() - t0, me_direct.ACTIVITY_SECONDS)
        r.finished('a')
        self.assertEqual(sent[2:], [state(None, 0, 1)])  # going idle after a busy report: at once
        r.started(req('b'), 'T')
        r.finished('b', 0.01)  # not reported, but a beat may have named it: at once
        self.assertEqual(sent[3:], [state(None, 0, 2)])
        r.started(req('c'), 'T')
        r.finished('c', 0.001)  # quick, and the controller was told idle: no hurry
        self.assertEqual(len(sent), 4)
        time.sleep(0.4)
        self.assertEqual(sent[4:], [state(None, 0, 3)])
        r.changed()  # nothing changed: nothing sent
        r.orphaned([{'msg_id': 'x'}])
        self.assertEqual(sent[5:], [dict(state(None, 0, 3), orphaned=[{'msg_id': 'x'}])])
        r.reset()  # a new controller gets the state that differs from idle
        time.sleep(0.4)
        self.assertEqual(sent[6:], [state(None, 0, 3)])

if __name__ == '__main__':
    unittest.main()
