"""Conformance of the python engine: the real engine process against a fake controller.

Run: python3 -m unittest discover -s test/conformance/python
"""

import os
import platform
import socket
import struct
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fake_controller import HAVE_NUMPY, FakeController  # noqa: E402


NOTHING = object()


def f64(*xs):
    return struct.pack('<%dd' % len(xs), *xs)


class Base(unittest.TestCase):
    fc = None

    @classmethod
    def setUpClass(cls):
        cls.fc = FakeController(heartbeat_ms=100, engine_id=0)

    @classmethod
    def tearDownClass(cls):
        if cls.fc is not None:
            cls.fc.close()

    def error(self, msg_type, content, buffers=(), timeout=10.0):
        reply, _ = self.fc.request(msg_type, content, buffers, timeout)
        self.assertEqual(reply.content.get('status'), 'error', reply.content)
        self.assertEqual(set(reply.content), {'status', 'ename', 'evalue', 'traceback'})
        self.assertIsInstance(reply.content['traceback'], list)
        return reply.content

    def roundtrip(self, tree, buffers=(), name='v'):
        """Pushes a value as TypeScript encodes it and pulls it back: (tree, buffers)."""
        self.fc.push({name: tree}, buffers)
        values, bufs = self.fc.pull([name])
        return values[0], bufs

    def py(self, expr):
        """The repr of a Python expression evaluated on the engine."""
        return self.fc.execute(expr).get('result')


class TestRegistrationAndHeart(Base):
    @classmethod
    def setUpClass(cls):
        cls.fc = FakeController(heartbeat_ms=100, engine_id=7, requested_id=7)

    def test_registration_request(self):
        m = self.fc.registration
        self.assertTrue(m.signature_ok)
        self.assertEqual(m.msg_type, 'registration_request')
        self.assertEqual(m.header['version'], 'multiengine/1')
        for k in ('msg_id', 'session', 'date'):
            self.assertIsInstance(m.header[k], str)
        self.assertRegex(m.header['date'], r'^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$')
        self.assertEqual(m.parent_header, {})
        c = m.content
        self.assertEqual(c['kernel'], 'python')
        self.assertEqual(c['language_version'], platform.python_version())
        self.assertEqual(c['host'], socket.gethostname())
        self.assertEqual(c['pid'], self.fc.proc.pid)
        self.assertEqual(c['requested_id'], 7)
        self.assertRegex(c['uuid'], r'^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$')

    def test_heartbeat_on_second_connection_at_once_and_periodically(self):
        beat = self.fc.first_beat
        self.assertTrue(beat.signature_ok)
        self.assertEqual(beat.msg_type, 'heartbeat')
        content = dict(beat.content)
        stats = content.pop('stats')
        self.assertEqual(content, {'uuid': self.fc.registration.content['uuid'], 'id': 7})
        self.assertEqual(stats['host'], socket.gethostname())
        self.assertIsInstance(stats['rss'], int)
        self.assertGreater(stats['rss'], 1000000)
        self.assertGreaterEqual(stats['cpu'], 0)
        t0 = time.monotonic()
        got = [self.fc.heart.recv(2.0) for _ in range(3)]
        self.assertTrue(all(b.msg_type == 'heartbeat' and b.signature_ok for b in got))
        self.assertLess(time.monotonic() - t0, 1.0)

    def test_heart_beats_while_user_code_runs(self):
        while not self.fc.heart.inbox.empty():
            self.fc.heart.inbox.get_nowait()
        self.fc.execute('import time\nt_end = time.time() + 1.0\nwhile time.time() < t_end: pass')
        beats = self.fc.heart.inbox.qsize()
        self.assertGreaterEqual(beats, 6, 'heartbeats during 1 s of busy user code at 100 ms')

    def test_replies_carry_engine_id_and_times(self):
        reply = self.fc.ok('keys_request', {})
        md = reply.metadata
        self.assertEqual(md['engine_id'], 7)
        for k in ('received', 'started', 'completed'):
            self.assertRegex(md[k], r'^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$')
        self.assertLessEqual(md['received'], md['started'])
        self.assertLessEqual(md['started'], md['completed'])

    @unittest.skipUnless(sys.platform.startswith('linux'), '/proc is Linux only')
    def test_idle_rss_is_small(self):
        fc = FakeController()
        try:
            time.sleep(0.3)
            rss = fc.rss_kb()
            sys.stderr.write('\n[idle engine RSS: %.1f MB] ' % (rss / 1024.0))
            self.assertLessEqual(rss, 20 * 1024, 'idle RSS %d kB' % rss)
            self.assertEqual(self.py_on(fc, "'numpy' in __import__('sys').modules"), 'False')
        finally:
            fc.close()

    def py_on(self, fc, expr):
        return fc.execute(expr).get('result')


class TestExecute(Base):
    def test_streams_while_running_and_before_the_reply(self):
        t0 = time.monotonic()
        reply, streams = self.fc.request('execute_request', {
            'code': "import sys, time\nprint('hello')\ntime.sleep(0.4)\nprint('oops', file=sys.stderr)\n6*7"})
        self.assertEqual(reply.content['result'], '42')
        self.assertEqual([(s.content['name'], s.content['text']) for s in streams],
                         [('stdout', 'hello\n'), ('stderr', 'oops\n')])
        # 'hello' went out while the code was still sleeping (flushed within 50 ms)
        self.assertLess(streams[0].received - t0, 0.2)
        self.assertGreater(reply.received - streams[0].received, 0.25)
        for s in streams:
            self.assertTrue(s.signature_ok)
            self.assertEqual(s.metadata.get('engine_id'), 0)

    def test_all_output_arrives_before_the_reply(self):
        reply, streams = self.fc.request('execute_request', {
            'code': "for i in range(2000): print(i)\nimport sys; _ = sys.stdout.write('end')"})
        text = ''.join(s.content['text'] for s in streams if s.content['name'] == 'stdout')
        self.assertEqual(text, ''.join('%d\n' % i for i in range(2000)) + 'end')
        self.assertNotIn('result', reply.content)

    def test_result_is_repr_of_the_last_expression(self):
        self.assertEqual(self.py("x = 'a'\nx"), "'a'")
        self.assertEqual(self.py('[1, 2.5, None]'), '[1, 2.5, None]')
        self.assertNotIn('result', self.fc.execute('x = 5'))
        self.assertNotIn('result', self.fc.execute('None'))
        self.assertNotIn('result', self.fc.execute('x;'))
        self.assertNotIn('result', self.fc.execute("print('p')"))
        self.assertNotIn('result', self.fc.execute(''))
        self.assertNotIn('result', self.fc.ok('execute_request', {'code': '1 + 1', 'silent': True}).content)

    def test_execution_count_counts_execute_requests(self):
        a = self.fc.execute('1')['execution_count']
        self.error('execute_request', {'code': '1/0'})
        b = self.fc.execute('1')['execution_count']
        self.assertEqual(b, a + 2)

    def test_namespace_persists_and_is_main(self):
        self.fc.execute('def sq(x):\n    return x * x\nclass P: pass')
        self.assertEqual(self.py('sq(12)'), '144')
        self.assertEqual(self.py('__name__'), "'__main__'")
        self.assertEqual(self.py("import __main__; __main__.sq is sq"), 'True')
        self.assertEqual(self.py("import pickle; type(pickle.loads(pickle.dumps(P()))).__name__"), "'P'")

    def test_zero_division_error(self):
        c = self.error('execute_request', {'code': 'y = 1\n1/0'})
        self.assertEqual(c['ename'], 'ZeroDivisionError')
        self.assertEqual(c['evalue'], 'division by zero')
        tb = c['traceback']
        self.assertEqual(tb[0], 'Traceback (most recent call last):')
        self.assertEqual(tb[-1], 'ZeroDivisionError: division by zero')
        self.assertTrue(any('line 2' in line for line in tb), tb)
        self.assertFalse(any('multiengine_python' in line for line in tb), 'engine frames are trimmed: %r' % tb)
        self.assertFalse(any('\n' in line for line in tb))

    def test_exception_in_a_function_keeps_user_frames(self):
        self.fc.execute('def boom():\n    raise ValueError("bad " + "thing")')
        c = self.error('execute_request', {'code': 'boom()'})
        self.assertEqual((c['ename'], c['evalue']), ('ValueError', 'bad thing'))
        self.assertTrue(any('in boom' in line for line in c['traceback']))

    def test_syntax_error(self):
        c = self.error('execute_request', {'code': 'x = = 1'})
        self.assertEqual(c['ename'], 'SyntaxError')
        self.assertIn('SyntaxError', c['traceback'][-1])

    def test_system_exit_is_an_error_and_the_engine_lives(self):
        c = self.error('execute_request', {'code': 'import sys; sys.exit(3)'})
        self.assertEqual(c['ename'], 'SystemExit')
        self.assertEqual(self.py('2 + 2'), '4')

    def test_top_level_await(self):
        self.assertEqual(self.py('import asyncio\nawait asyncio.sleep(0.01)\n7'), '7')

    def test_interrupt_busy_loop_and_sleep(self):
        self.fc.execute('kept = 123')
        for code in ('while True: pass', 'import time\ntime.sleep(30)'):
            h = self.fc.send('execute_request', {'code': code})
            time.sleep(0.3)
            t0 = time.monotonic()
            self.fc.interrupt()
            reply, _ = self.fc.collect(h, timeout=5)
            self.assertLess(time.monotonic() - t0, 2.0)
            self.assertEqual(reply.content['status'], 'error')
            self.assertEqual(reply.content['ename'], 'KeyboardInterrupt')
            self.assertEqual(reply.content['traceback'][-1], 'KeyboardInterrupt')
            self.assertFalse(any('multiengine_python' in line for line in reply.content['traceback']))
        self.assertIsNone(self.fc.proc.poll())
        self.assertEqual(self.py('kept'), '123')

    def test_interrupt_while_idle_is_ignored(self):
        self.fc.interrupt()
        time.sleep(0.2)
        self.assertEqual(self.py('3 * 3'), '9')
        self.assertIsNone(self.fc.proc.poll())

    def test_abort_queued_requests(self):
        slow = self.fc.send('execute_request', {'code': 'import time\ntime.sleep(1.0)\n"slow done"'})
        queued = [self.fc.send('execute_request', {'code': '%d' % i}) for i in range(3)]
        time.sleep(0.1)
        self.fc.send('abort_request', {'msg_ids': [queued[1]['msg_id']]})
        m = self.fc.main.recv(0.5)  # answered at once, while the slow request still runs
        self.assertEqual(m.parent_header, queued[1])
        self.assertEqual(m.msg_type, 'execute_reply')
        self.assertEqual(m.content, {'status': 'aborted'})
        self.assertEqual(m.metadata['engine_id'], 0)
        self.fc.send('abort_request', {})
        got = [self.fc.main.recv(0.5) for _ in range(2)]
        self.assertEqual(sorted(g.parent_header['msg_id'] for g in got), sorted([queued[0]['msg_id'], queued[2]['msg_id']]))
        self.assertTrue(all(g.content == {'status': 'aborted'} for g in got))
        reply, _ = self.fc.collect(slow)
        self.assertEqual(reply.content['result'], "'slow done'")
        self.assertEqual(self.py('"next"'), "'next'")

    def test_requests_run_in_arrival_order(self):
        hs = [self.fc.send('execute_request', {'code': 'order = globals().get("order", []) + [%d]' % i}) for i in range(5)]
        for h in hs:
            self.fc.collect(h)
        self.assertEqual(self.py('order[-5:]'), '[0, 1, 2, 3, 4]')


class TestApply(Base):
    def apply(self, fn, args=(), buffers=(), **extra):
        content = {'fn': fn, 'args': list(args)}
        content.update(extra)
        return self.fc.ok('apply_request', content, buffers)

    def test_lambda_with_free_names(self):
        self.fc.push({'a': 5, 'b': 10})
        self.assertEqual(self.apply('lambda x: a+b+x', [27]).content, {'status': 'ok', 'result': 42})

    def test_def_block_recursion_without_binding_its_name(self):
        src = 'def fact_nb(n):\n    return 1 if n < 2 else n * fact_nb(n - 1)\n'
        self.assertEqual(self.apply(src, [10]).content['result'], 3628800)
        keys = self.fc.ok('keys_request', {}).content['keys']
        self.assertNotIn('fact_nb', keys)

    def test_def_block_with_imports_and_free_names(self):
        self.fc.push({'scale': 3})
        src = 'import math\n\ndef f(x, y=1):\n    """doc"""\n    return math.floor(x * scale) + y\n'
        self.assertEqual(self.apply(src, [2.5]).content['result'], 8)

    def test_block_ending_with_an_expression(self):
        # what a client's map helper can send for a def block: the block, then an expression using it
        src = ('def sq(x):\n    return x * x\n\n'
               '(lambda f: lambda *seqs: [f(*a) for a in zip(*seqs)])(sq)')
        self.assertEqual(self.apply(src, [[1, 2, 3]]).content['result'], [1, 4, 9])
        self.assertNotIn('sq', self.fc.ok('keys_request', {}).content['keys'])

    def test_named_function_in_namespace(self):
        self.fc.execute('def twice(x):\n    return 2 * x')
        self.assertEqual(self.apply('twice', [21]).content['result'], 42)

    def test_empty_fn_is_null(self):
        self.assertEqual(self.apply('', [1, 2]).content, {'status': 'ok', 'result': None})

    def test_require_binds_top_level_names(self):
        self.apply('', require=['json', 'os.path'])
        self.assertEqual(self.py('(json.__name__, os.path.__name__.startswith("posixpath") or os.name)')[:8], "('json',")
        c = self.error('apply_request', {'fn': 'lambda: 1', 'args': [], 'require': ['no_such_module_xyz']})
        self.assertEqual(c['ename'], 'UnmetDependencyError')
        self.assertIn('no_such_module_xyz', c['evalue'])

    def test_error_in_function(self):
        c = self.error('apply_request', {'fn': 'def g(x):\n    return x / 0\n', 'args': [1]})
        self.assertEqual(c['ename'], 'ZeroDivisionError')
        self.assertTrue(any('in g' in line for line in c['traceback']), c['traceback'])
        self.assertFalse(any('multiengine_python' in line for line in c['traceback']))

    def test_syntax_error_in_fn(self):
        c = self.error('apply_request', {'fn': 'lambda x: (', 'args': []})
        self.assertEqual(c['ename'], 'SyntaxError')

    def test_binary_args_and_results(self):
        r = self.apply('lambda b, t: (len(b), b[::-1], t)', [{'$t': 'bytes', 'buf': 0}, [1, {'$t': 'bytes', 'buf': 1}]],
                       buffers=[b'abc', b'xy'])
        tree = r.content['result']
        self.assertEqual(tree[0], 3)
        self.assertEqual(bytes(r.buffers[tree[1]['buf']]), b'cba')
        self.assertEqual(bytes(r.buffers[tree[2][1]['buf']]), b'xy')

    def test_async_function_is_awaited(self):
        src = 'async def f(x):\n    import asyncio\n    await asyncio.sleep(0.01)\n    return x + 1\n'
        self.assertEqual(self.apply(src, [1]).content['result'], 2)

    def test_unencodable_result(self):
        c = self.error('apply_request', {'fn': 'lambda: open(__import__("os").devnull)', 'args': []})
        self.assertEqual(c['ename'], 'SerializationError')
        self.assertIn('TextIOWrapper', c['evalue'])

    def test_apply_round_trip_is_fast(self):
        self.fc.push({'a': 5, 'b': 10})
        n = 300
        t0 = time.perf_counter()
        for i in range(n):
            self.apply('lambda x: a+b+x', [i])
        per = (time.perf_counter() - t0) / n * 1000
        sys.stderr.write('\n[apply round trip: %.3f ms, fake controller included] ' % per)
        self.assertLess(per, 5.0)


class TestNamespace(Base):
    def test_pull_missing_name(self):
        c = self.error('pull_request', {'names': ['nope_not_here']})
        self.assertEqual(c['ename'], 'NameError')
        self.assertEqual(c['evalue'], "name 'nope_not_here' is not defined")

    def test_pull_module_names_variable_and_type(self):
        self.fc.execute('import os as the_os_module')
        c = self.error('pull_request', {'names': ['the_os_module']})
        self.assertEqual(c['ename'], 'SerializationError')
        self.assertIn('the_os_module', c['evalue'])
        self.assertIn('module', c['evalue'])

    def test_pull_open_file_and_nested_function(self):
        self.fc.execute('fh = open(__import__("os").devnull)\nnested = {"ok": 1, "f": [lambda: 1]}')
        c = self.error('pull_request', {'names': ['fh']})
        self.assertEqual(c['ename'], 'SerializationError')
        self.assertIn('fh', c['evalue'])
        self.assertIn('TextIOWrapper', c['evalue'])
        c = self.error('pull_request', {'names': ['nested']})
        self.assertIn("nested['f'][0]", c['evalue'])
        self.assertIn('function', c['evalue'])

    def test_pull_several_names(self):
        self.fc.push({'p1': 1, 'p2': 'two'})
        self.assertEqual(self.fc.pull(['p1', 'p2'])[0], [1, 'two'])

    def test_keys_and_clear(self):
        before = self.fc.execute('0')['execution_count']
        self.fc.ok('clear_request', {})
        self.assertEqual(self.fc.ok('keys_request', {}).content, {'status': 'ok', 'keys': []})
        self.fc.execute('import os\nzeta = 1\n_under = 2\ndef alpha(): pass\n__dunder__ = 3\nprint = print')
        self.assertEqual(self.fc.ok('keys_request', {}).content['keys'], ['_under', 'alpha', 'os', 'zeta'])
        self.fc.ok('clear_request', {})
        c = self.error('pull_request', {'names': ['zeta']})
        self.assertEqual(c['ename'], 'NameError')
        self.assertEqual(self.fc.execute('1')['execution_count'], before + 2)

    def test_push_is_all_or_nothing(self):
        c = self.error('push_request', {'ns': {'good1': 1, 'bad1': {'$t': 'no-such-tag'}}})
        self.assertEqual(c['ename'], 'SerializationError')
        self.assertIn('bad1', c['evalue'])
        self.assertEqual(self.error('pull_request', {'names': ['good1']})['ename'], 'NameError')


class TestValueMapping(Base):
    """Each row of the mapping table in docs/protocol.md, both directions."""

    def same(self, tree, expect_py=NOTHING, back=NOTHING, buffers=()):
        """Push `tree`, check the Python value is `expect_py` (by repr), pull it back as `back`
        (default: the same tree)."""
        got, bufs = self.roundtrip(tree, buffers)
        if expect_py is not NOTHING:
            self.assertEqual(self.fc.execute('repr(v)')['result'], repr(repr(expect_py)))
        self.assertEqual(got, tree if back is NOTHING else back)
        return got, bufs

    def test_null_booleans_strings(self):
        self.same(None, None)
        self.same(True, True)
        self.same(False, False)
        self.same('héllo ✓ 🎉', 'héllo ✓ 🎉')
        self.same('')
        self.same('\ud800 lone surrogate')

    def test_numbers(self):
        self.same(42)
        self.assertEqual(self.py('type(v).__name__'), "'int'")
        self.same(1.5)
        self.assertEqual(self.py('type(v).__name__'), "'float'")
        self.same(-0.1)
        self.same(2 ** 53 - 1)
        self.same(-(2 ** 53 - 1))
        self.same(1e300)

    def test_ints_beyond_the_safe_range_are_bigints(self):
        for n in (2 ** 53, -(2 ** 53), 2 ** 64, -12345678901234567890123456789):
            self.fc.execute('v = %d' % n)
            self.assertEqual(self.fc.pull(['v'])[0][0], {'$t': 'bigint', 'v': str(n)})
        self.same({'$t': 'bigint', 'v': '123456789012345678901234567890'})
        self.assertEqual(self.py('v == 123456789012345678901234567890'), 'True')
        self.same({'$t': 'bigint', 'v': '5'}, back=5)

    def test_nan_and_infinities(self):
        for tag in ('nan', 'inf', '-inf'):
            self.same({'$t': 'float', 'v': tag})
            self.assertEqual(self.py('type(v).__name__'), "'float'")
        self.assertEqual(self.py('repr(v)'), "'-inf'")
        self.fc.execute('v = [float("nan"), float("inf")]')
        self.assertEqual(self.fc.pull(['v'])[0][0], [{'$t': 'float', 'v': 'nan'}, {'$t': 'float', 'v': 'inf'}])

    def test_arrays_lists_tuples_ranges(self):
        self.same([1, 'a', [2, [None]]], [1, 'a', [2, [None]]])
        self.fc.execute('v = (1, (2, 3))')
        self.assertEqual(self.fc.pull(['v'])[0][0], [1, [2, 3]])
        self.fc.execute('v = range(2, 12, 3)')
        self.assertEqual(self.fc.pull(['v'])[0][0], [2, 5, 8, 11])

    def test_objects_and_dicts(self):
        self.same({'a': 1, 'b': {'c': [2]}}, {'a': 1, 'b': {'c': [2]}})
        self.same({'$t': 'object', 'v': [['$t', 'x'], ['y', 1]]}, {'$t': 'x', 'y': 1})

    def test_maps_and_dicts_with_other_keys(self):
        self.same({'$t': 'map', 'v': [[1, 'one'], ['k', 2]]}, {1: 'one', 'k': 2})
        self.same({'$t': 'map', 'v': [[[1, 2], 'pair']]}, {(1, 2): 'pair'})
        self.fc.execute('v = {(1, "a"): None, 2.5: {3: 4}}')
        self.assertEqual(self.fc.pull(['v'])[0][0],
                         {'$t': 'map', 'v': [[[1, 'a'], None], [2.5, {'$t': 'map', 'v': [[3, 4]]}]]})

    def test_sets(self):
        got, _ = self.roundtrip({'$t': 'set', 'v': [1, 'a', [1, 2]]})
        self.assertEqual(self.py('sorted(map(repr, v))'), repr(sorted(map(repr, {1, 'a', (1, 2)}))))
        self.assertEqual(got['$t'], 'set')
        self.assertEqual(sorted(map(repr, got['v'])), sorted(map(repr, [1, 'a', [1, 2]])))
        self.fc.execute('v = frozenset([3])')
        self.assertEqual(self.fc.pull(['v'])[0][0], {'$t': 'set', 'v': [3]})

    def test_bytes(self):
        got, bufs = self.same({'$t': 'bytes', 'buf': 0}, b'\x00\x01\xff', buffers=[b'\x00\x01\xff'])
        self.assertEqual(bufs, [b'\x00\x01\xff'])
        got, bufs = self.roundtrip({'$t': 'bytes', 'buf': 0, 'node': 'Buffer'}, [b'buf'])
        self.assertEqual((got, bufs), ({'$t': 'bytes', 'buf': 0}, [b'buf']))
        self.fc.execute('v = [bytearray(b"ab"), memoryview(b"cd"), b""]')
        got, bufs = self.fc.pull(['v'])
        self.assertEqual(got[0], [{'$t': 'bytes', 'buf': 0}, {'$t': 'bytes', 'buf': 1}, {'$t': 'bytes', 'buf': 2}])
        self.assertEqual(bufs, [b'ab', b'cd', b''])

    def test_dates(self):
        self.same({'$t': 'date', 'v': '2024-02-29T12:34:56.789Z'})
        self.assertEqual(self.py('(v.year, v.microsecond, v.utcoffset().total_seconds())'), '(2024, 789000, 0.0)')
        self.same({'$t': 'date', 'v': None}, None, back=None)
        self.fc.execute('import datetime as dt\n'
                        'v = [dt.datetime(2020, 1, 2, 3, 4, 5, 678999, tzinfo=dt.timezone(dt.timedelta(hours=2))), '
                        'dt.date(1999, 12, 31)]')
        self.assertEqual(self.fc.pull(['v'])[0][0], [{'$t': 'date', 'v': '2020-01-02T01:04:05.678Z'},
                                                     {'$t': 'date', 'v': '1999-12-31T00:00:00.000Z'}])

    def test_undefined_functions_errors_regexps(self):
        self.same({'$t': 'undefined'}, None, back=None)
        fn = {'$t': 'function', 'src': '(x) => 2 * x', 'name': 'f'}
        self.same(fn)
        c = self.error('execute_request', {'code': 'v(2)'})
        self.assertEqual(c['ename'], 'TypeError')
        self.assertIn('JavaScript', c['evalue'])
        got, _ = self.roundtrip({'$t': 'error', 'name': 'TypeError', 'message': 'm', 'stack': 'TypeError: m\n    at x'})
        self.assertEqual(self.py('(type(v).__name__, str(v))'), "('TypeError', 'm')")
        self.assertEqual((got['name'], got['message']), ('TypeError', 'm'))
        self.same({'$t': 'error', 'name': 'RangeError', 'message': 'r', 'stack': 's'})
        self.fc.execute('try:\n    1/0\nexcept Exception as e:\n    v = e')
        got = self.fc.pull(['v'])[0][0]
        self.assertEqual((got['$t'], got['name'], got['message']), ('error', 'ZeroDivisionError', 'division by zero'))
        self.assertIn('ZeroDivisionError', got['stack'])
        self.same({'$t': 'regexp', 'source': 'a+b', 'flags': 'i'})
        self.assertEqual(self.py("bool(v.match('AAB'))"), 'True')
        self.same({'$t': 'regexp', 'source': 'x', 'flags': 'gi'})
        self.same({'$t': 'repr', 'text': '<thing>', 'type': 'Thing'}, back={'$repr': '<thing>', 'type': 'Thing'})

    def test_typed_array_round_trip(self):
        # a numpy array when numpy is importable (TestNumpy), else array.array (TestValueMappingWithoutNumpy)
        got, bufs = self.roundtrip({'$t': 'ndarray', 'dtype': 'float64', 'shape': [3], 'buf': 0, 'typed': True},
                                   [f64(1.5, -2, 3)])
        self.assertEqual(bufs, [f64(1.5, -2, 3)])
        self.assertEqual(got['dtype'], 'float64')
        self.assertEqual(got['shape'], [3])


@unittest.skipUnless(HAVE_NUMPY, 'numpy is not installed')
class TestNumpy(Base):
    def test_typed_array_arrives_as_numpy_array(self):
        got, bufs = self.roundtrip({'$t': 'ndarray', 'dtype': 'float64', 'shape': [3], 'buf': 0, 'typed': True},
                                   [f64(1.5, -2, 3)])
        self.assertEqual(self.py('(type(v).__module__, type(v).__name__, str(v.dtype), v.shape, v.tolist())'),
                         "('numpy', 'ndarray', 'float64', (3,), [1.5, -2.0, 3.0])")
        self.assertEqual(self.py('v.flags.writeable'), 'True')
        self.assertEqual(got, {'$t': 'ndarray', 'dtype': 'float64', 'shape': [3], 'buf': 0})
        self.assertEqual(bufs, [f64(1.5, -2, 3)])

    def test_every_dtype(self):
        fmt = {'int8': 'b', 'uint8': 'B', 'int16': 'h', 'uint16': 'H', 'int32': 'i', 'uint32': 'I',
               'int64': 'q', 'uint64': 'Q', 'float32': 'f', 'float64': 'd'}
        for dtype, f in sorted(fmt.items()):
            data = struct.pack('<6' + f, *range(6))
            tree = {'$t': 'ndarray', 'dtype': dtype, 'shape': [2, 3], 'buf': 0}
            got, bufs = self.roundtrip(tree, [data])
            self.assertEqual(got, tree, dtype)
            self.assertEqual(bufs, [data], dtype)
            self.assertEqual(self.py('(str(v.dtype), v.shape, int(v[1, 2]))'), "('%s', (2, 3), 5)" % dtype)

    def test_clamped_and_bigint64_typed_arrays(self):
        self.roundtrip({'$t': 'ndarray', 'dtype': 'uint8', 'shape': [2], 'buf': 0, 'typed': True, 'clamped': True},
                       [b'\x00\xff'])
        self.assertEqual(self.py('v.tolist()'), '[0, 255]')
        self.roundtrip({'$t': 'ndarray', 'dtype': 'int64', 'shape': [1], 'buf': 0, 'typed': True},
                       [struct.pack('<q', -2 ** 62)])
        self.assertEqual(self.py('int(v[0])'), str(-2 ** 62))

    def test_numpy_arrays_from_python(self):
        self.fc.execute('import numpy as np\n'
                        'a = np.arange(6, dtype=np.int32).reshape(2, 3)\n'
                        'nc = np.arange(12.0).reshape(3, 4)[:, ::2]\n'
                        'be = np.array([1.0, 2.0], dtype=">f8")\n'
                        'bl = np.array([True, False])\n'
                        'h = np.array([0.5], dtype=np.float16)\n'
                        'z = np.array(7.0)\n'
                        'e = np.zeros((0, 3))\n'
                        'sc = [np.float64(1.25), np.int64(2), np.bool_(True), np.int64(2 ** 60)]')
        values, bufs = self.fc.pull(['a', 'nc', 'be', 'bl', 'h', 'z', 'e', 'sc'])
        a, nc, be, bl, h, z, e, sc = values
        self.assertEqual(a, {'$t': 'ndarray', 'dtype': 'int32', 'shape': [2, 3], 'buf': 0})
        self.assertEqual(bufs[0], struct.pack('<6i', *range(6)))
        self.assertEqual(nc['shape'], [3, 2])
        self.assertEqual(bufs[nc['buf']], f64(0, 2, 4, 6, 8, 10))
        self.assertEqual(bufs[be['buf']], f64(1, 2))
        self.assertEqual((bl['dtype'], bufs[bl['buf']]), ('uint8', b'\x01\x00'))
        self.assertEqual((h['dtype'], bufs[h['buf']]), ('float32', struct.pack('<f', 0.5)))
        self.assertEqual((z['shape'], bufs[z['buf']]), ([], f64(7)))
        self.assertEqual((e['shape'], bufs[e['buf']]), ([0, 3], b''))
        self.assertEqual(sc, [1.25, 2, True, {'$t': 'bigint', 'v': str(2 ** 60)}])

    def test_seed_eigvals(self):
        self.fc.execute('import numpy\na = numpy.random.rand(2, 2)')
        r = self.fc.execute('numpy.linalg.eigvals(a)')
        self.assertTrue(r['result'].startswith('array('), r)
        self.fc.execute('ev = numpy.linalg.eigvals(a)')
        (tree,), bufs = self.fc.pull(['ev'])
        self.assertEqual(tree['dtype'], 'float64')  # a non-negative 2x2 matrix has real eigenvalues

    def test_complex_arrays_have_no_mapping(self):
        self.fc.execute('import numpy as np\ncx = np.array([1j])')
        c = self.error('pull_request', {'names': ['cx']})
        self.assertEqual(c['ename'], 'SerializationError')
        self.assertIn('complex128', c['evalue'])

    def test_large_array_round_trip(self):
        n = 1 << 20  # 8 MiB of float64
        data = struct.pack('<%dd' % n, *range(n))
        got, bufs = self.roundtrip({'$t': 'ndarray', 'dtype': 'float64', 'shape': [n], 'buf': 0, 'typed': True}, [data])
        self.assertEqual(bufs[0], data)
        self.assertEqual(self.py('float(v.sum())'), repr(float(n * (n - 1) // 2)))
        self.assertEqual(self.py('v.ctypes.data % 8'), '0')


class TestValueMappingWithoutNumpy(Base):
    @classmethod
    def setUpClass(cls):
        cls.stub = tempfile.mkdtemp(prefix='multiengine-nonumpy-')
        os.mkdir(os.path.join(cls.stub, 'numpy'))
        with open(os.path.join(cls.stub, 'numpy', '__init__.py'), 'w') as f:
            f.write('raise ImportError("numpy is disabled for this test")\n')
        cls.fc = FakeController(env={'PYTHONPATH': cls.stub})

    @classmethod
    def tearDownClass(cls):
        Base.tearDownClass.__func__(cls)
        os.unlink(os.path.join(cls.stub, 'numpy', '__init__.py'))
        os.rmdir(os.path.join(cls.stub, 'numpy'))
        os.rmdir(cls.stub)

    def test_typed_array_arrives_as_array_array(self):
        tree = {'$t': 'ndarray', 'dtype': 'float64', 'shape': [3], 'buf': 0, 'typed': True}
        got, bufs = self.roundtrip(tree, [f64(1.5, -2, 3)])
        self.assertEqual(self.py('v'), "array('d', [1.5, -2.0, 3.0])")
        self.assertEqual((got, bufs), (tree, [f64(1.5, -2, 3)]))

    def test_ndarray_arrives_as_fallback_ndarray(self):
        tree = {'$t': 'ndarray', 'dtype': 'int16', 'shape': [2, 2], 'buf': 0}
        got, bufs = self.roundtrip(tree, [struct.pack('<4h', 1, -2, 3, -4)])
        self.assertEqual(self.py('(type(v).__name__, v.dtype, v.shape, v.tolist())'),
                         "('NDArray', 'int16', (2, 2), [[1, -2], [3, -4]])")
        self.assertEqual((got, bufs), (tree, [struct.pack('<4h', 1, -2, 3, -4)]))

    def test_array_array_from_python(self):
        self.fc.execute('import array\nv = array.array("i", [1, 2, 3])')
        got, bufs = self.fc.pull(['v'])
        self.assertEqual(got[0], {'$t': 'ndarray', 'dtype': 'int32', 'shape': [3], 'buf': 0, 'typed': True})
        self.assertEqual(bufs, [struct.pack('<3i', 1, 2, 3)])

    def test_numpy_is_really_absent(self):
        c = self.error('execute_request', {'code': 'import numpy'})
        self.assertEqual(c['ename'], 'ImportError')


class TestLifecycle(unittest.TestCase):
    def test_shutdown_request_exits_0(self):
        fc = FakeController()
        try:
            fc.main.send('shutdown_request', {})
            self.assertEqual(fc.wait_exit(3.0), 0)
        finally:
            fc.close()

    def test_shutdown_while_busy_exits_promptly(self):
        fc = FakeController()
        try:
            fc.send('execute_request', {'code': 'while True: pass'})
            time.sleep(0.2)
            t0 = time.monotonic()
            fc.main.send('shutdown_request', {})
            self.assertEqual(fc.wait_exit(3.0), 0)
            self.assertLess(time.monotonic() - t0, 1.5)
        finally:
            fc.close()

    def test_exits_when_the_main_connection_closes(self):
        fc = FakeController()
        try:
            fc.main.close()
            self.assertIsNotNone(fc.wait_exit(3.0))
        finally:
            fc.close()

    def test_registration_refused_exits_1_with_the_reason(self):
        fc = FakeController(registration_error='no room for engine 5')
        try:
            self.assertEqual(fc.wait_exit(5.0), 1)
            self.assertIn('no room for engine 5', fc.stderr())
        finally:
            fc.close()

    def test_bad_signature_is_dropped(self):
        fc = FakeController()
        try:
            fc.main.send('execute_request', {'code': 'pwned = 1'}, key=b'wrong key')
            self.assertEqual(fc.execute('"still here"')['result'], "'still here'")
            c, _ = fc.request('pull_request', {'names': ['pwned']})
            self.assertEqual(c.content['ename'], 'NameError')
        finally:
            fc.close()

    @unittest.skipUnless(os.name == 'posix', 'signals are POSIX')
    def test_sigint_from_outside(self):
        import signal
        fc = FakeController()
        try:
            h = fc.send('execute_request', {'code': 'import time\ntime.sleep(30)'})
            time.sleep(0.3)
            os.kill(fc.proc.pid, signal.SIGINT)  # Ctrl-C while user code runs: interrupts it
            reply, _ = fc.collect(h, timeout=5)
            self.assertEqual(reply.content['ename'], 'KeyboardInterrupt')
            self.assertEqual(fc.execute('"alive"')['result'], "'alive'")
            os.kill(fc.proc.pid, signal.SIGINT)  # Ctrl-C while idle: the engine exits
            self.assertEqual(fc.wait_exit(3.0), 130)
        finally:
            fc.close()

    def test_runs_as_python_dash_m(self):
        fc = FakeController(module_mode=True)
        try:
            self.assertEqual(fc.execute('1 + 1')['result'], '2')
            self.assertEqual(fc.registration.content['kernel'], 'python')
        finally:
            fc.close()

    def test_empty_key_means_no_signature(self):
        fc = FakeController(key=b'')
        try:
            self.assertEqual(fc.registration.signature, b'')
            self.assertEqual(fc.execute('2 * 21')['result'], '42')
        finally:
            fc.close()

    @unittest.skipUnless(os.name == 'posix', 'file modes are POSIX')
    def test_connection_file_readable_by_others_is_refused(self):
        import subprocess
        from fake_controller import ENGINE, PYTHON
        d = tempfile.mkdtemp()
        path = os.path.join(d, 'engine.json')
        try:
            with open(path, 'w') as f:
                f.write('{"transport":"tcp","ip":"127.0.0.1","port":1,"key":"k","signature_scheme":"hmac-sha256"}')
            os.chmod(path, 0o644)
            r = subprocess.run([PYTHON, ENGINE, '--file', path], capture_output=True, timeout=20)
            self.assertEqual(r.returncode, 1)
            self.assertIn(b'chmod 600', r.stderr)
            r = subprocess.run([PYTHON, ENGINE, '--file', os.path.join(d, 'missing.json')], capture_output=True, timeout=20)
            self.assertEqual(r.returncode, 1)
            self.assertIn(b'no connection file', r.stderr)
        finally:
            os.unlink(path)
            os.rmdir(d)


if __name__ == '__main__':
    unittest.main()
