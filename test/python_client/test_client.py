"""The Python client against a real cluster: two Python engines (0, 1) and a node engine (2)."""

import io
import os
import sys
import tempfile
import unittest
from contextlib import redirect_stderr, redirect_stdout

from cluster import Cluster, poll
import multiengine

try:
    import numpy as np
except ImportError:  # pragma: no cover - numpy is part of the test machine
    np = None

cluster = rc = None
PY = [0, 1]
NODE = 2


def setUpModule():
    global cluster, rc
    cluster = Cluster(2, 'python')
    rc = cluster.client()
    rc._dispatcher.request('add_engines_request', {'n': 1, 'engine': 'node'}, timeout=60)
    rc.wait_for_engines(3)


def tearDownModule():
    rc.close()
    cluster.stop()


a_here = 'client value'


class ClientTest(unittest.TestCase):
    def test_ids_and_views(self):
        self.assertEqual(rc.ids, [0, 1, 2])
        self.assertEqual(rc.kernel_of(0), 'python')
        self.assertEqual(rc.kernel_of(NODE), 'node')
        self.assertEqual(rc[:].targets, [0, 1, 2])
        self.assertEqual(rc[0].targets, 0)
        self.assertEqual(rc[::2].targets, [0, 2])
        self.assertEqual(rc[1:3].targets, [1, 2])
        self.assertEqual(len(rc), 3)
        with self.assertRaisesRegex(IndexError, r'no engine with id 7 \(engines: 0, 1, 2\)'):
            rc[7]
        with self.assertRaisesRegex(TypeError, 'index a Client by an engine id'):
            rc['x']

    def test_profile_lookup_and_bad_files(self):
        old = os.environ.get('MULTIENGINE_DIR')
        os.environ['MULTIENGINE_DIR'] = cluster.dir
        try:
            c = multiengine.Client(profile='default')
            self.assertEqual(c.url_file, cluster.file)
            self.assertEqual(c[0].apply_sync(lambda: 6 * 7), 42)
            c.close()
        finally:
            if old is None:
                del os.environ['MULTIENGINE_DIR']
            else:
                os.environ['MULTIENGINE_DIR'] = old
        with self.assertRaisesRegex(OSError, 'no connection file at /nonexistent/x.json'):
            multiengine.Client('/nonexistent/x.json')
        with self.assertRaisesRegex(ValueError, 'profile names may only contain'):
            multiengine.Client(profile='a/b')
        with self.assertRaisesRegex(TypeError, "unexpected arguments: bogus"):
            multiengine.Client(cluster.file, bogus=1)

    def test_queue_status(self):
        rc[0].apply_sync(lambda: 1)
        qs = rc.queue_status()
        self.assertEqual(set(qs), {0, 1, 2, 'unassigned'})
        self.assertGreaterEqual(qs[0]['completed'], 0)
        self.assertEqual(qs[0]['queue'], 0)
        self.assertEqual(set(rc.queue_status(0)), {'queue', 'running', 'completed', 'tasks'})

    def test_wait_and_get_result(self):
        v = rc[PY]
        ars = [v.apply_async(lambda x: x * 2, i) for i in range(5)]
        self.assertTrue(rc.wait(ars, timeout=30))
        self.assertTrue(rc.wait())
        ar = ars[2]
        self.assertIs(rc.get_result(ar.msg_ids[0]), ar)
        # Another client fetches a result the controller stored for a client that went away.
        other = cluster.client()
        slow = other[0].apply_async(lambda: __import__('time').sleep(0.3) or 'kept')
        other[1].apply_sync(lambda: 0)  # (the request above left through the controller or straight)
        msg_id = slow.msg_ids[0]
        other.close()
        found = []

        def fetch():
            try:  # the engine tells the controller of requests whose direct connection closed, soon after
                found.append(rc.get_result(msg_id, block=True))
            except KeyError:
                return False
            return True
        poll(fetch, what='the controller to hold the result of the client that left')
        self.assertEqual(found[0].get(10), 'kept')
        self.assertEqual(found[0].engine_id, 0)
        with self.assertRaisesRegex(KeyError, 'no result for msg_id nope'):
            rc.get_result('nope')

    def test_get_result_of_one_task_of_a_map(self):
        # A load-balanced map of a quick task and a slow one: the quick one's msg_id gives its own
        # value while the map still runs (ipyparallel's get_result answers one msg_id), not the map.
        lv = rc.load_balanced_view(targets=PY)
        amr = lv.map(lambda s: __import__('time').sleep(s) or s, [0, 2], chunksize=1, block=False)
        quick, slow = amr.msg_ids
        one = rc.get_result(quick, block=True)
        self.assertEqual(one.msg_ids, [quick])
        self.assertEqual(one.get(1), [0])
        self.assertFalse(amr.ready(), 'the slow task should still run')
        self.assertEqual(rc.get_result(slow).get(30), [2])
        self.assertEqual(amr.get(30), [0, 2])
        # A direct map: one request per engine, each msg_id its engine's chunk.
        dmr = rc[PY].map(lambda x: x * 10, range(4), block=False)
        self.assertEqual(len(dmr.msg_ids), 2)
        self.assertEqual([rc.get_result(m).get(30) for m in dmr.msg_ids], [[0, 10], [20, 30]])
        # A broadcast has one msg_id for all its engines: get_result still gives the result itself.
        b = rc[PY].apply_async(lambda: 7)
        self.assertIs(rc.get_result(b.msg_ids[0]), b)


class DirectViewTest(unittest.TestCase):
    def setUp(self):
        self.v = rc[PY]
        self.v.block = True

    def test_execute(self):
        ar = self.v.execute('x = 3\nprint("hi", x)\nx * 2')
        self.assertIsInstance(ar, multiengine.AsyncResult)
        self.assertEqual([r.result for r in ar.get()], ['6', '6'])
        self.assertEqual(ar.stdout, ['hi 3\n', 'hi 3\n'])
        single = rc[1].execute('x + 1', block=True)
        self.assertEqual(single.get().result, '4')
        with tempfile.NamedTemporaryFile('w', suffix='.py', delete=False) as f:
            f.write('from_file = 11\n')
        try:
            self.v.run(f.name)
        finally:
            os.unlink(f.name)
        self.assertEqual(self.v['from_file'], [11, 11])

    def test_composite_error(self):
        with self.assertRaises(multiengine.CompositeError) as cm:
            self.v.execute('1/0')
        e = cm.exception
        self.assertEqual(str(e), 'one or more exceptions from call to method: execute\n'
                                 '[0:execute]: ZeroDivisionError: division by zero\n'
                                 '[1:execute]: ZeroDivisionError: division by zero')
        self.assertEqual([x.engine_id for x in e.elist], [0, 1])
        with self.assertRaises(multiengine.RemoteError) as one:
            e.raise_exception(1)
        self.assertEqual((one.exception.ename, one.exception.engine_id), ('ZeroDivisionError', 1))
        buf = io.StringIO()
        e.print_tracebacks(file=buf)
        self.assertIn('[0:execute]:\n', buf.getvalue())
        self.assertIn('ZeroDivisionError: division by zero', buf.getvalue())
        with self.assertRaisesRegex(IndexError, 'holds 2 errors'):
            e.raise_exception(5)
        with self.assertRaises(multiengine.RemoteError) as single:
            rc[0].apply_sync(lambda: {}['missing'])
        self.assertNotIsInstance(single.exception, multiengine.CompositeError)
        self.assertEqual(single.exception.ename, 'KeyError')
        self.assertTrue(any('missing' in line for line in single.exception.traceback))

    def test_apply_names_resolve_on_the_engines(self):
        self.v.push(dict(a=5, b=7))
        self.assertEqual(self.v.apply(lambda x: a + b + x, 27), [39, 39])  # noqa: F821 (names on the engines)
        # A name the function does not define is the engine's, not this module's.
        with self.assertRaisesRegex(multiengine.RemoteError, "NameError: name 'a_here' is not defined"):
            rc[0].apply_sync(lambda: a_here)

    def test_lambda_in_the_middle_of_a_call_line(self):
        r = self.v.apply_sync(lambda x: x + 1, 1), self.v.apply_sync(lambda y, z=3: y * z, 2)
        self.assertEqual(r, ([2, 2], [6, 6]))
        self.assertEqual(sorted(self.v.map_sync(lambda q: -q, [1, 2, 3]), key=lambda t: t), [-3, -2, -1])
        outer = (lambda: rc[0].apply_sync(lambda: 'inner'))  # both lambdas take no arguments: told apart by their columns
        self.assertEqual(outer(), 'inner')
        self.assertEqual(rc[0].apply_sync(lambda s,
                                          t: s + t, 'a', 'b'), 'ab')

    def test_closures_defaults_kwargs_and_defs(self):
        def make(n):
            return lambda x, k=10: x + n + k
        self.assertEqual(self.v.apply_sync(make(5), 1), [16, 16])
        self.assertEqual(self.v.apply_sync(make(5), 1, k=0), [6, 6])
        offset = 100

        def deco(f):
            return f

        @deco
        def fib(n, base=offset):
            return base + (n if n < 2 else fib(n - 1) + fib(n - 2) - base - base)
        self.assertEqual(rc[0].apply_sync(fib, 10), 155)
        with self.assertRaisesRegex(TypeError, 'uses deco, a function from its enclosing scope'):
            rc[0].apply_sync(lambda: deco(1))
        self.assertEqual(rc[0].apply_sync('lambda x: x * 3', 4), 12)
        self.assertEqual(rc[0].apply_sync('def f(x):\n    return [x]\n', 4), [4])

    def test_apply_async_and_results(self):
        v = rc[PY]
        ar = v.apply_async(lambda: print('out') or __import__('sys').stderr.write('err\n') and 7)
        self.assertEqual(ar.get(timeout=20), [7, 7])
        self.assertTrue(ar.ready())
        self.assertTrue(ar.successful())
        self.assertEqual(ar.r, [7, 7])
        self.assertEqual(ar.get_dict(), {0: 7, 1: 7})
        self.assertEqual(ar.stdout, ['out\n', 'out\n'])
        self.assertEqual(ar.stderr, ['err\n', 'err\n'])
        self.assertEqual(ar.progress, 2)
        self.assertEqual(list(ar), [7, 7])
        md = ar.metadata
        self.assertEqual([m['engine_id'] for m in md], [0, 1])
        for m in md:
            self.assertLessEqual(m['started'], m['completed'])
            self.assertEqual(m['status'], 'ok')
        self.assertGreaterEqual(ar.wall_time, 0)
        self.assertGreaterEqual(ar.serial_time, 0)
        self.assertGreaterEqual(ar.elapsed, 0)
        buf = io.StringIO()
        with redirect_stdout(buf), redirect_stderr(io.StringIO()):
            ar.display_outputs()
        self.assertEqual(buf.getvalue(), '[stdout:0] out\n[stdout:1] out\n')
        slow = rc[0].apply_async(lambda: __import__('time').sleep(1))
        with self.assertRaises(multiengine.TimeoutError):
            slow.get(timeout=0.05)
        self.assertFalse(slow.ready())
        with self.assertRaises(AssertionError):
            slow.successful()
        self.assertTrue(slow.wait())
        self.assertIsNone(slow.get())

    def test_map(self):
        self.assertEqual(self.v.map_sync(lambda x: x ** 10, range(8)), [x ** 10 for x in range(8)])
        self.assertEqual(self.v.map(lambda x, y: x + y, [1, 2, 3], [10, 20, 30]), [11, 22, 33])
        amr = self.v.map_async(lambda x: x * 2, range(5))
        self.assertEqual(list(amr), [0, 2, 4, 6, 8])
        self.assertEqual(amr.get(), [0, 2, 4, 6, 8])
        self.assertEqual(self.v.map_sync(str, {3}), ['3'])  # a builtin goes by name; a set is read into a list
        self.assertEqual(self.v.map_sync(os.path.basename, ['/a/b']), ['b'])
        with self.assertRaisesRegex(ValueError, r'different lengths \(2, 3\)'):
            self.v.map_sync(lambda x, y: x, [1, 2], [1, 2, 3])

    def test_push_pull_and_dict_access(self):
        v = self.v
        self.assertEqual(v.push({'p': 1, 'q': [1, 'two', None]}), [None, None])
        self.assertEqual(v.pull('p'), [1, 1])
        self.assertEqual(v.pull(['p', 'q']), [[1, [1, 'two', None]], [1, [1, 'two', None]]])
        self.assertEqual(rc[1].pull('q', block=True), [1, 'two', None])
        v['r'] = {'k': (1, 2)}
        self.assertEqual(v['r'], [{'k': [1, 2]}, {'k': [1, 2]}])
        v.update({'s': 2})
        self.assertEqual(v.get('s'), [2, 2])
        with self.assertRaisesRegex(multiengine.CompositeError, "NameError: name 'nothere' is not defined"):
            v.pull('nothere')
        with self.assertRaisesRegex(multiengine.SerializationError, r"cannot serialize m: a value of type module"):
            v.push({'m': os})
        with self.assertRaisesRegex(TypeError, 'push takes a dict'):
            v.push([('a', 1)])

    def test_push_of_functions_defines_them_from_their_source(self):
        v = self.v
        base = 100

        def shifted(x, by=1):
            return x + base + by

        def scaled(x):
            return x * factor  # noqa: F821 (the engines' factor)

        ar = v.push({'shifted': shifted, 'scaled': scaled, 'factor': 3, 'sq': lambda z: z * z}, block=False)
        self.assertEqual(ar.get(), [None, None])
        # Closures and defaults as values, free names from the engines' namespace, a lambda from its line.
        v.execute('out = (shifted(1), scaled(2), sq(4))', block=True)
        self.assertEqual(v.pull('out'), [[102, 6, 16], [102, 6, 16]])
        v['twice'] = lambda x: 2 * x
        self.assertEqual(v.apply_sync(lambda: twice(21)), [42, 42])  # noqa: F821
        # Inside a container a function has no mapping: the error says how functions travel.
        with self.assertRaisesRegex(multiengine.SerializationError, r"cannot serialize fs\[0\]: a Python function has no wire mapping "
                                                                   r"\(.*\); a function goes to the engines as its source"):
            v.push({'fs': [shifted]})
        # A node engine cannot run Python: the same error, naming the function.
        with self.assertRaisesRegex(multiengine.SerializationError, r"cannot serialize f: a Python function has no wire mapping"):
            rc[[0, NODE]].push({'f': shifted}, block=True)

    def test_scatter_gather(self):
        v = self.v
        v.scatter('part', list(range(9)))
        self.assertEqual(v['part'], [[0, 1, 2, 3, 4], [5, 6, 7, 8]])
        self.assertEqual(v.gather('part'), list(range(9)))
        v.scatter('one', [7, 8], flatten=True)
        self.assertEqual(v['one'], [7, 8])
        with self.assertRaisesRegex(ValueError, "only dist='b'"):
            v.scatter('x', [1], dist='r')

    def test_remote_and_parallel(self):
        @self.v.remote(block=True)
        def getpid_plus(k):
            import os
            return os.getpid() + k
        pids = getpid_plus(0)
        self.assertEqual(len(set(pids)), 2)

        @self.v.parallel(block=True)
        def double_all(xs):
            return [2 * x for x in xs]
        self.assertEqual(double_all(list(range(6))), [0, 2, 4, 6, 8, 10])
        self.assertEqual(double_all.map([[1], [2, 3]]), [[2], [4, 6]])

    def test_sync_imports(self):
        out = io.StringIO()
        with redirect_stdout(out):
            with self.v.sync_imports():
                import json  # noqa: F401
        self.assertEqual(out.getvalue(), 'importing json on engine(s)\n')
        self.assertEqual(self.v.apply_sync(lambda: json.dumps([1])), ['[1]', '[1]'])  # noqa: F821

    def test_clear_abort_interrupt(self):
        e = rc[1]
        e['gone'] = 1
        e.clear(block=True)
        self.assertNotIn('gone', e.keys())
        running = e.apply_async(lambda: __import__('time').sleep(30))
        queued = e.apply_async(lambda: 'never')
        poll(lambda: rc.queue_status(1)['running'] == 1, what='engine 1 to run the sleep')
        e.abort(queued)
        with self.assertRaises(multiengine.AbortError):
            queued.get(20)
        also_queued = e.apply_async(lambda: 'never either')
        rc.abort(also_queued)  # no targets: the client knows where it went
        with self.assertRaises(multiengine.AbortError):
            also_queued.get(20)
        e.interrupt()
        with self.assertRaises(multiengine.RemoteError) as cm:
            running.get(20)
        self.assertEqual(cm.exception.ename, 'KeyboardInterrupt')
        self.assertEqual(e.apply_sync(lambda: 'alive'), 'alive')

    def test_bad_targets(self):
        with self.assertRaisesRegex(TypeError, "targets are 'all', an engine id or a list"):
            rc.direct_view('x').apply_sync(lambda: 1)
        with self.assertRaisesRegex(multiengine.EngineError, 'no engine with id 9'):
            rc.direct_view(9).apply_sync(lambda: 1)

    def test_activate_calls_magics_register(self):
        calls = []
        stub = type(sys)('multiengine.magics')
        stub.register = lambda view, suffix: calls.append((view, suffix))
        sys.modules['multiengine.magics'] = stub
        try:
            v = rc[PY]
            v.activate('2')
            self.assertEqual(calls, [(v, '2')])
        finally:
            del sys.modules['multiengine.magics']


@unittest.skipIf(np is None, 'numpy is not installed')
class ArraysTest(unittest.TestCase):
    def test_numpy_both_ways_with_python_engines(self):
        arr = np.arange(12, dtype=np.float32).reshape(3, 4)
        rc[0].push({'arr': arr}, block=True)
        self.assertEqual(rc[0].apply_sync(lambda: (type(arr).__module__, str(arr.dtype), arr.shape)),  # noqa: F821
                         ['numpy', 'float32', [3, 4]])
        back = rc[0].pull('arr', block=True)
        self.assertIsInstance(back, np.ndarray)
        self.assertEqual(back.dtype, np.float32)
        np.testing.assert_array_equal(back, arr)
        made = rc[0].apply_sync(lambda n: __import__('numpy').linspace(0, 1, n), 5)
        np.testing.assert_array_equal(made, np.linspace(0, 1, 5))
        v = rc[PY]
        v.scatter('chunk', np.arange(10))
        self.assertEqual([c.tolist() for c in v['chunk']], [[0, 1, 2, 3, 4], [5, 6, 7, 8, 9]])
        np.testing.assert_array_equal(v.gather('chunk', block=True), np.arange(10))

    def test_numpy_both_ways_with_a_node_engine(self):
        node = rc[NODE]
        node.block = True
        arr = np.arange(6, dtype=np.float64).reshape(2, 3) / 2
        node.push({'nd': arr})
        # On the node engine it is an NDArray over a Float64Array (a buffer, not JSON numbers).
        self.assertEqual(node.apply('() => [nd.constructor.name, nd.data.constructor.name, nd.shape]'),
                         ['NDArray', 'Float64Array', [2, 3]])
        back = node.pull('nd')
        self.assertIsInstance(back, np.ndarray)
        np.testing.assert_array_equal(back, arr)
        doubled = node.apply('(a) => new Float64Array(a.data.map((x) => 2 * x))', arr)
        np.testing.assert_array_equal(doubled, (arr * 2).ravel())


class NodeEngineTest(unittest.TestCase):
    def test_javascript_source(self):
        node = rc[NODE]
        node.block = True
        self.assertEqual(node.apply('(x, y) => x + y', 2, 3), 5)
        node.push({'k': 10})
        self.assertEqual(node.apply('() => k * 2'), 20)
        self.assertEqual(node.map('(x) => x * x', [1, 2, 3]), [1, 4, 9])
        self.assertEqual(node.execute('1 + 1').get().result, '2')
        with self.assertRaisesRegex(TypeError, r'engine 2 runs node \(JavaScript\): pass the function as JavaScript source'):
            node.apply(lambda: 1)
        with self.assertRaises(multiengine.RemoteError) as cm:
            node.apply('() => { throw new RangeError("nope") }')
        self.assertEqual((cm.exception.ename, cm.exception.evalue), ('RangeError', 'nope'))

    def test_mixed_view(self):
        mixed = rc[[0, NODE]]
        with self.assertRaisesRegex(TypeError, 'engine 2 runs node'):
            mixed.apply_sync(lambda: 1)
        mixed.push({'both': [1, 2]}, block=True)
        self.assertEqual(mixed.pull('both', block=True), [[1, 2], [1, 2]])


class LoadBalancedTest(unittest.TestCase):
    def test_apply_and_map(self):
        lv = rc.load_balanced_view()
        self.assertEqual(lv.apply_sync(lambda x: x * 2, 21), 42)
        ar = lv.apply_async(lambda: 'where')
        self.assertEqual(ar.get(20), 'where')
        self.assertIn(ar.engine_id, PY)  # a Python function runs on a Python engine only
        self.assertEqual(lv.map_sync(lambda x: x + 1, range(10), chunksize=3), list(range(1, 11)))
        amr = lv.map(lambda x: x * x, range(6), block=False, ordered=False)
        self.assertEqual(sorted(amr), [0, 1, 4, 9, 16, 25])
        with self.assertRaisesRegex(ValueError, 'chunksize must be a whole number'):
            lv.map_sync(lambda x: x, [1], chunksize=0)
        with self.assertRaises(multiengine.RemoteError) as cm:
            lv.apply_sync(lambda: 1 / 0)
        self.assertEqual(cm.exception.ename, 'ZeroDivisionError')

    def test_flags(self):
        lv = rc.load_balanced_view(targets=[1])
        self.assertEqual(lv.apply_async(lambda: 1).get(20), 1)
        first = lv.apply_async(lambda: 'first')
        self.assertEqual(first.get(20), 'first')
        self.assertEqual(first.engine_id, 1)
        lv2 = rc.load_balanced_view()
        with lv2.temp_flags(follow=first, label='follower'):
            self.assertEqual(lv2.apply_async(lambda: 'second').get(20), 'second')
        failed = lv2.apply_async(lambda: 1 / 0)
        failed.wait(20)
        with lv2.temp_flags(after=[failed], success_only=True):
            with self.assertRaises(multiengine.ImpossibleDependency):
                lv2.apply_sync(lambda: 'never')
        direct = rc[0].apply_async(lambda: 'direct first')
        with lv2.temp_flags(follow=direct):
            ar = lv2.apply_async(lambda: 'after direct')
            self.assertEqual(ar.get(20), 'after direct')
            self.assertEqual(ar.engine_id, 0)
        lv2.set_flags(retries=2)
        self.assertEqual(lv2.retries, 2)
        with self.assertRaisesRegex(KeyError, "no flag 'bogus'"):
            lv2.set_flags(bogus=1)

    def test_retries_and_imap(self):
        rc[0]['bad'] = True
        rc[1]['bad'] = False
        try:
            lv = rc.load_balanced_view(targets=PY)
            lv.retries = 1
            flaky = lambda: 1 / 0 if bad else 'ok'  # noqa: E731,F821 (bad is the engines')
            results = [lv.apply_async(flaky) for _ in range(4)]
            self.assertEqual([r.get(30) for r in results], ['ok'] * 4)  # those sent to engine 0 ran again on 1
            self.assertEqual(set(r.engine_id for r in results), {1})
            self.assertEqual(list(lv.imap(lambda x: x * 3, range(4))), [0, 3, 6, 9])
        finally:
            rc[PY].clear(block=True)

    def test_timeout(self):
        lv = rc.load_balanced_view(targets=[0])
        busy = lv.apply_async(lambda: __import__('time').sleep(1.5))
        with lv.temp_flags(timeout=0.2, after=busy):  # held until busy ends: no engine starts it in time
            with self.assertRaises(multiengine.TaskTimeout):
                lv.apply_sync(lambda: 'late')
        busy.get(20)


if __name__ == '__main__':
    unittest.main()
