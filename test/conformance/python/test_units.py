"""Unit tests of the python engine's own parts: signing, framing, envelopes, the value mapping.

Run: python3 -m unittest discover -s test/conformance/python
"""

import datetime as dt
import hashlib
import hmac
import json
import os
import socket
import struct
import sys
import tempfile
import threading
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fake_controller import ENGINE_DIR, HAVE_NUMPY  # noqa: E402

sys.path.insert(0, ENGINE_DIR)
import multiengine_python as me  # noqa: E402
from multiengine_python import arrays as me_arrays  # noqa: E402


def ref_sign(key, parts):
    return hmac.new(key, b''.join(parts), hashlib.sha256).hexdigest().encode('ascii') if key else b''


class TestSigning(unittest.TestCase):
    PARTS = [b'{"msg_id":"1","msg_type":"x","session":"s"}', b'{}', b'{}', b'{"a":"\xc3\xa9"}']

    def test_matches_hmac_sha256_for_all_key_lengths(self):
        for key in ('k', 'secret-key', 'x' * 64, 'y' * 65, 'z' * 200, 'ключ'):
            self.assertEqual(me.Signer(key).sign(self.PARTS), ref_sign(key.encode('utf-8'), self.PARTS), key)

    def test_worked_example_of_docs_protocol_md(self):
        parts = [b'{"msg_id":"m-1","msg_type":"keys_request","session":"s-1","date":"2026-01-02T03:04:05.678Z",'
                 b'"version":"multiengine/1"}', b'{}', b'{"targets":[0]}', b'{}']
        sig = b'e57b0067ad9deedf3ea012d479bb6af2a308b8d4726ea98be125061e0d82c875'
        self.assertEqual(me.Signer('secret-key').sign(parts), sig)
        self.assertEqual(ref_sign(b'secret-key', parts), sig)
        frame = me.encode_frame([sig] + parts)
        self.assertEqual(frame[:28].hex(), '000000e1000000050000004000000076000000020000000f00000002')
        self.assertEqual(len(frame), 229)

    def test_empty_key_signs_with_nothing(self):
        s = me.Signer('')
        self.assertEqual(s.sign(self.PARTS), b'')
        self.assertTrue(s.verify([b''] + self.PARTS))
        self.assertFalse(s.verify([b'00'] + self.PARTS))

    def test_verify(self):
        s = me.Signer('key')
        good = [s.sign(self.PARTS)] + self.PARTS + [b'unsigned buffer']
        self.assertTrue(s.verify(good))
        self.assertFalse(s.verify([good[0][:-1] + b'0'] + self.PARTS))
        self.assertFalse(s.verify([good[0]] + self.PARTS[:3] + [b'{"a":1}']))
        self.assertFalse(s.verify(good[:4]))
        self.assertFalse(me.Signer('other').verify(good))


class TestFraming(unittest.TestCase):
    def test_layout(self):
        frame = me.encode_frame([b'sig', b'{}', b''])
        self.assertEqual(frame, struct.pack('>5I', 4 + 12 + 5, 3, 3, 2, 0) + b'sig{}')

    def pair(self):
        a, b = socket.socketpair()
        self.addCleanup(a.close)
        self.addCleanup(b.close)
        return a, b

    def test_reads_frames_split_anywhere_and_joined(self):
        a, b = self.pair()
        frames = [[b'a', b'', b'ccc'], [b'x' * 70000, b'y'], [b'z']]
        data = b''.join(me.encode_frame(f) for f in frames)
        reader = me.FrameReader(b)

        def send():
            for i in range(0, len(data), 997):
                a.sendall(data[i:i + 997])
            a.close()
        t = threading.Thread(target=send)
        t.start()
        got = [reader.read_frame() for _ in frames]
        t.join()
        self.assertEqual([[bytes(p) for p in f] for f in got], frames)
        self.assertIsInstance(got[1][0], bytearray)  # a big part has its own writable buffer
        with self.assertRaises(EOFError):
            reader.read_frame()

    def test_send_frame_scatter_gather(self):
        a, b = self.pair()
        big = memoryview(bytearray(os.urandom(300000)))
        parts = [b'sig', b'{}', big, b'', b'tail']
        out = []
        t = threading.Thread(target=lambda: out.append(me.FrameReader(b).read_frame()))
        t.start()
        me.send_frame(a, parts)
        t.join(10)
        self.assertEqual([bytes(p) for p in out[0]], [bytes(p) for p in parts])

    def bad(self, data, max_bytes=me.DEFAULT_MAX_MESSAGE_BYTES):
        a, b = self.pair()
        a.sendall(data)
        with self.assertRaises(me.FrameError) as cm:
            me.FrameReader(b, max_bytes).read_frame()
        return str(cm.exception)

    def test_bad_frames(self):
        self.assertIn('part count 0', self.bad(struct.pack('>II', 4, 0)))
        self.assertIn('part count', self.bad(struct.pack('>II', 4 + 4 * 70000, 70000)))
        self.assertIn('too short', self.bad(struct.pack('>II', 4, 1)))
        self.assertIn('sum to', self.bad(struct.pack('>III', 8 + 5, 1, 4) + b'12345'))
        self.assertIn('maximum message size', self.bad(struct.pack('>II', 1000, 1), max_bytes=100))


class TestMessages(unittest.TestCase):
    def parts(self, signer, header=None, parent=b'{}', meta=b'{}', content=b'{}'):
        h = header if header is not None else b'{"msg_id":"1","msg_type":"keys_request","session":"s"}'
        js = [h, parent, meta, content]
        return [signer.sign(js)] + js

    def test_decode(self):
        s = me.Signer('k')
        m = me.decode_message(self.parts(s, content=b'{"x":[1]}') + [b'buf'], s)
        self.assertEqual((m.msg_type, m.msg_id, m.content, m.buffers), ('keys_request', '1', {'x': [1]}, [b'buf']))

    def test_rejects(self):
        s = me.Signer('k')
        with self.assertRaises(me.BadMessage) as cm:
            me.decode_message(self.parts(me.Signer('other')), s)
        self.assertEqual(cm.exception.reason, 'signature')
        for kw in ({'header': b'{"msg_id":"1"}'}, {'content': b'[]'}, {'meta': b'nope'}):
            with self.assertRaises(me.BadMessage) as cm:
                me.decode_message(self.parts(s, **kw), s)
            self.assertEqual(cm.exception.reason, 'malformed')
        with self.assertRaises(me.BadMessage):
            me.decode_message([b'', b'{}'], s)
        for junk in (b'{"x":1}x', b'{"x":1', b'', b'{"x":1} {}'):
            with self.assertRaises(me.BadMessage) as cm:
                me.decode_message(self.parts(s, content=junk), s)
            self.assertEqual(cm.exception.reason, 'malformed')

    def test_decode_accepts_any_valid_json(self):
        s = me.Signer('k')
        m = me.decode_message(self.parts(s, header=b' { "msg_id" : "1", "msg_type":"keys_request","session":"s"}\n',
                                         meta=b'{ }', content=b'{"x": [1, {"y": "\\u00e9"}]} '), s)
        self.assertEqual((m.msg_id, m.metadata, m.content), ('1', {}, {'x': [1, {'y': '\u00e9'}]}))

    def test_frames_sent_together_and_header_template(self):
        a, b = TestFraming.pair(self)
        c = me.Channel(a, me.Signer('k'), 'sess-1')
        frames = [c.encode('keys_reply', {'status': 'ok', 'i': i}, b'{}', {'engine_id': 0}) for i in range(3)]
        c.hold()
        for f in frames:
            self.assertTrue(c.post(f))
        self.assertEqual(c.release(), [])
        reader = me.FrameReader(b)
        for i in range(3):
            m = me.decode_message(reader.read_frame(), me.Signer('k'))
            self.assertEqual((m.msg_type, m.content['i'], m.metadata), ('keys_reply', i, {'engine_id': 0}))
            self.assertEqual(json.loads(m.header_bytes), m.header)
            self.assertEqual(me.dumps(m.header), m.header_bytes)  # the template gives what dumps would
            self.assertEqual(set(m.header), {'msg_id', 'msg_type', 'session', 'date', 'version'})
        c.hold()
        c.post(frames[0], 'args')
        c.close()
        self.assertEqual(c.release(), [(frames[0], 'args')])  # closed: handed back, not written

    def test_dumps(self):
        self.assertEqual(me.dumps({'a': [1, 'é']}), '{"a":[1,"é"]}'.encode('utf-8'))
        self.assertEqual(json.loads(me.dumps('\ud800')), '\ud800')  # lone surrogate: \\u escape, still valid
        with self.assertRaises(ValueError):
            me.dumps(float('nan'))

    def test_iso_now(self):
        self.assertRegex(me.iso_now(), r'^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$')


def enc(v):
    return me.encode_value(v, 'x')


def dec(tree, buffers=()):
    return me.decode_value(tree, [bytearray(b) for b in buffers])


class TestProcessStats(unittest.TestCase):
    def test_first_report_at_once_then_none_until_a_second_passed(self):
        from multiengine_python.process_stats import ProcessStats
        ps = ProcessStats()
        first = ps.due(0.1)
        self.assertEqual(first['host'], socket.gethostname())
        self.assertIsInstance(first['rss'], int)
        self.assertGreater(first['rss'], 1000000)
        self.assertGreater(first['mem_total'], first['rss'])
        self.assertGreaterEqual(first['cpu'], 0)
        json.dumps(first)  # it goes on the wire as is
        self.assertIsNone(ps.due(0.1), 'no second report right after the first')

    def test_cpu_counts_every_thread(self):
        from multiengine_python.process_stats import ProcessStats
        import time
        ps = ProcessStats()
        ps.due(0.1)

        def spin():
            t_end = time.monotonic() + 1.2
            while time.monotonic() < t_end:
                pass
        t = threading.Thread(target=spin)
        t.start()
        t.join()
        busy = ps.due(0.1)
        self.assertIsNotNone(busy)
        self.assertGreater(busy['cpu'], 25, 'a thread spun for the whole interval')


    @unittest.skipUnless(hasattr(os, 'fork'), 'os.fork: POSIX only')
    def test_first_report_of_a_forked_engine_is_not_negative(self):
        # As the fork server does: the module is imported (and CPU spent) in the parent, the
        # engine's stats made in the child, whose CPU time starts again at 0.
        import time
        from multiengine_python import process_stats
        t_end = time.process_time() + 0.3
        while time.process_time() < t_end:
            pass
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(r)
            os.write(w, json.dumps(process_stats.ProcessStats().due(0.1)['cpu']).encode())
            os._exit(0)
        os.close(w)
        with os.fdopen(r) as f:
            cpu = json.loads(f.read())
        os.waitpid(pid, 0)
        self.assertGreaterEqual(cpu, 0)


class TestValueEncoding(unittest.TestCase):
    def test_plain_values(self):
        for v in (None, True, False, 0, -5, 1.5, 'ü', [], {}, [1, [2]], {'a': {'b': None}}):
            self.assertEqual(enc(v), (v, []))
        self.assertEqual(enc((1, 2))[0], [1, 2])
        self.assertEqual(enc(range(3))[0], [0, 1, 2])
        self.assertEqual(enc({'a': 1}.keys())[0], ['a'])

    def test_int_boundaries(self):
        self.assertEqual(enc(2 ** 53 - 1)[0], 2 ** 53 - 1)
        self.assertEqual(enc(-(2 ** 53 - 1))[0], -(2 ** 53 - 1))
        self.assertEqual(enc(2 ** 53)[0], {'$t': 'bigint', 'v': str(2 ** 53)})
        self.assertEqual(enc(-(2 ** 53))[0], {'$t': 'bigint', 'v': str(-(2 ** 53))})

    def test_floats(self):
        self.assertEqual(enc(float('nan'))[0], {'$t': 'float', 'v': 'nan'})
        self.assertEqual(enc(float('-inf'))[0], {'$t': 'float', 'v': '-inf'})
        self.assertTrue(dec({'$t': 'float', 'v': 'nan'}) != dec({'$t': 'float', 'v': 'nan'}))
        self.assertEqual(dec({'$t': 'float', 'v': 'inf'}), float('inf'))

    def test_negative_zero(self):
        import math
        self.assertEqual(enc(-0.0)[0], {'$t': 'float', 'v': '-0'})  # as node sends it (JSON drops the sign there)
        self.assertIs(type(enc(0.0)[0]), float)
        self.assertEqual(math.copysign(1.0, enc(0.0)[0]), 1.0)
        for tree in ({'$t': 'float', 'v': '-0'}, -0.0):
            z = dec(tree)
            self.assertEqual((z, math.copysign(1.0, z)), (0.0, -1.0))

    def test_subclasses_of_plain_types(self):
        import collections
        import enum

        class Color(enum.IntEnum):
            RED = 1
        Point = collections.namedtuple('Point', 'x y')
        self.assertEqual(enc([Color.RED, Point(1, 2), collections.OrderedDict(a=1), collections.deque([3])])[0],
                         [1, [1, 2], {'a': 1}, [3]])

    def test_dicts(self):
        self.assertEqual(enc({'$t': 1})[0], {'$t': 'object', 'v': [['$t', 1]]})
        self.assertEqual(enc({1: 'a', 'b': 2})[0], {'$t': 'map', 'v': [[1, 'a'], ['b', 2]]})
        self.assertEqual(dec({'$t': 'map', 'v': [[[1, [2]], 'k']]}), {(1, (2,)): 'k'})
        with self.assertRaises(me.SerializationError):
            dec({'$t': 'map', 'v': [[{'a': 1}, 'k']]})
        self.assertEqual(dec({'$t': 'set', 'v': [[1], {'$t': 'set', 'v': [2]}]}), {(1,), frozenset([2])})

    def test_bytes(self):
        tree, bufs = enc([b'ab', bytearray(b'c'), memoryview(b'de')])
        self.assertEqual(tree, [{'$t': 'bytes', 'buf': 0}, {'$t': 'bytes', 'buf': 1}, {'$t': 'bytes', 'buf': 2}])
        self.assertEqual([bytes(b) for b in bufs], [b'ab', b'c', b'de'])
        self.assertEqual(dec({'$t': 'bytes', 'buf': 0, 'node': 'Buffer'}, [b'xy']), b'xy')
        with self.assertRaises(me.SerializationError):
            dec({'$t': 'bytes', 'buf': 3}, [b''])

    def test_dates(self):
        utc = dt.timezone.utc
        self.assertEqual(enc(dt.datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=utc))[0],
                         {'$t': 'date', 'v': '2024-05-06T07:08:09.123Z'})
        naive = dt.datetime(2024, 5, 6, 7, 8, 9)
        self.assertEqual(enc(naive)[0]['v'], naive.astimezone(utc).strftime('%Y-%m-%dT%H:%M:%S.000Z'))
        self.assertEqual(dec({'$t': 'date', 'v': '2024-05-06T07:08:09.123Z'}), dt.datetime(2024, 5, 6, 7, 8, 9, 123000, tzinfo=utc))
        self.assertEqual(dec({'$t': 'date', 'v': '2024-05-06T07:08:09Z'}), dt.datetime(2024, 5, 6, 7, 8, 9, tzinfo=utc))
        self.assertEqual(dec({'$t': 'date', 'v': '2024-05-06T07:08:09.1234567Z'}).microsecond, 123456)
        self.assertIsNone(dec({'$t': 'date', 'v': None}))
        with self.assertRaises(me.SerializationError):
            dec({'$t': 'date', 'v': '+275760-09-13T00:00:00.000Z'})

    def test_functions_and_errors(self):
        f = dec({'$t': 'function', 'src': 'function f(x) { return x }', 'name': 'f'})
        self.assertIsInstance(f, me.JSFunction)
        with self.assertRaises(TypeError) as cm:
            f(1)
        self.assertIn('JavaScript', str(cm.exception))
        self.assertEqual(enc(f)[0], {'$t': 'function', 'src': 'function f(x) { return x }', 'name': 'f'})
        e = dec({'$t': 'error', 'name': 'ReferenceError', 'message': 'x is not defined', 'stack': 'at <anon>'})
        self.assertIsInstance(e, me.JSError)
        self.assertEqual(enc(e)[0], {'$t': 'error', 'name': 'ReferenceError', 'message': 'x is not defined', 'stack': 'at <anon>'})
        self.assertIsInstance(dec({'$t': 'error', 'name': 'ValueError', 'message': 'v', 'stack': ''}), ValueError)

    def test_unknown_tag(self):
        with self.assertRaises(me.SerializationError) as cm:
            dec({'$t': 'nope'})
        self.assertIn('unknown value tag', str(cm.exception))

    def test_errors_name_the_path_and_type(self):
        cases = [
            ({'a': [1, json]}, "x['a'][1]", 'module'),
            ({1: lambda: 0}, 'x[1]', 'function'),
            ({(1, json): 2}, 'x.keys()[0][1]', 'module'),
            ({json}, 'x.item(0)', 'module'),
            (1j, 'x', 'complex'),
            (object(), 'x', 'object'),
        ]
        for value, path, typename in cases:
            with self.assertRaises(me.SerializationError) as cm:
                enc(value)
            self.assertIn('cannot serialize %s:' % path, str(cm.exception))
            self.assertIn(typename, str(cm.exception))
        loop = []
        loop.append(loop)
        with self.assertRaises(me.SerializationError) as cm:
            enc(loop)
        self.assertIn('circular', str(cm.exception))

    def test_a_function_or_class_as_a_value_says_how_functions_travel(self):
        def f(x):
            return x
        for value, kind in ((f, 'function'), (len, 'function'), (dict, 'class'), (lambda: 0, 'function')):
            with self.assertRaises(me.SerializationError) as cm:
                enc({'f': value})
            self.assertRegex(str(cm.exception), r"^cannot serialize x\['f'\]: a Python %s has no wire mapping \(.*\); a function "
                                                r"goes to the engines as its source: pass it to apply or map, or define it there "
                                                r"with execute$" % kind)

    def test_arrays_without_numpy(self):
        import array
        saved = me_arrays._numpy_state[0]
        me_arrays._numpy_state[0] = False
        try:
            a = dec({'$t': 'ndarray', 'dtype': 'uint16', 'shape': [2], 'buf': 0, 'typed': True}, [struct.pack('<2H', 1, 65535)])
            self.assertEqual(a, array.array('H', [1, 65535]))
            n = dec({'$t': 'ndarray', 'dtype': 'float32', 'shape': [2, 1], 'buf': 0}, [struct.pack('<2f', 1, 2)])
            self.assertIsInstance(n, me.NDArray)
            self.assertEqual(n.tolist(), [[1.0], [2.0]])
            tree, bufs = enc(n)
            self.assertEqual(tree, {'$t': 'ndarray', 'dtype': 'float32', 'shape': [2, 1], 'buf': 0})
            self.assertEqual(bytes(bufs[0]), struct.pack('<2f', 1, 2))
            for dtype in ('int8', 'uint8', 'int16', 'uint16', 'int32', 'uint32', 'int64', 'uint64', 'float32', 'float64'):
                size = int(dtype.lstrip('uintfloa')) // 8
                a = dec({'$t': 'ndarray', 'dtype': dtype, 'shape': [3], 'buf': 0, 'typed': True}, [bytes(3 * size)])
                self.assertEqual((a.itemsize, len(a)), (size, 3), dtype)
                self.assertEqual(enc(a)[0]['dtype'], dtype)
        finally:
            me_arrays._numpy_state[0] = saved
        with self.assertRaises(me.SerializationError):
            dec({'$t': 'ndarray', 'dtype': 'float64', 'shape': [2], 'buf': 0}, [b'1234567'])
        with self.assertRaises(me.SerializationError):
            dec({'$t': 'ndarray', 'dtype': 'float64', 'shape': [3], 'buf': 0}, [bytes(16)])
        with self.assertRaises(me.SerializationError):
            dec({'$t': 'ndarray', 'dtype': 'bool', 'shape': [1], 'buf': 0}, [b'\x01'])

    @unittest.skipUnless(HAVE_NUMPY, 'numpy is not installed')
    def test_numpy(self):
        import numpy as np
        a = dec({'$t': 'ndarray', 'dtype': 'int32', 'shape': [2, 2], 'buf': 0}, [struct.pack('<4i', 1, 2, 3, 4)])
        self.assertEqual(a.tolist(), [[1, 2], [3, 4]])
        a[0, 0] = 9  # writable
        tree, bufs = enc(a.T)
        self.assertEqual(tree, {'$t': 'ndarray', 'dtype': 'int32', 'shape': [2, 2], 'buf': 0})
        self.assertEqual(bytes(bufs[0]), struct.pack('<4i', 9, 3, 2, 4))
        self.assertEqual(enc(np.float32(0.5))[0], 0.5)
        self.assertEqual(enc(np.uint64(2 ** 63))[0], {'$t': 'bigint', 'v': str(2 ** 63)})


class TestConnectionFile(unittest.TestCase):
    def write(self, obj, mode=0o600):
        d = tempfile.mkdtemp()
        path = os.path.join(d, 'e.json')
        with open(path, 'w') as f:
            f.write(obj if isinstance(obj, str) else json.dumps(obj))
        os.chmod(path, mode)
        self.addCleanup(os.rmdir, d)
        self.addCleanup(os.unlink, path)
        return path

    GOOD = {'transport': 'tcp', 'ip': '127.0.0.1', 'port': 5555, 'key': 'k', 'signature_scheme': 'hmac-sha256'}

    def test_good_with_defaults(self):
        info = me.read_connection_file(self.write(self.GOOD))
        self.assertEqual((info['port'], info['heartbeat_ms'], info['profile']), (5555, 1000, 'default'))

    def test_problems_are_named(self):
        with self.assertRaises(me.ConnectionFileError) as cm:
            me.read_connection_file(self.write(dict(self.GOOD, port=0, signature_scheme='md5')))
        self.assertIn('port must be', str(cm.exception))
        self.assertIn('signature_scheme', str(cm.exception))
        with self.assertRaises(me.ConnectionFileError):
            me.read_connection_file(self.write('{not json'))

    @unittest.skipUnless(os.name == 'posix', 'file modes are POSIX')
    def test_mode(self):
        path = self.write(self.GOOD, 0o644)
        with self.assertRaises(me.ConnectionFileError):
            me.read_connection_file(path)
        self.assertEqual(me.read_connection_file(path, allow_insecure=True)['key'], 'k')

    def test_args(self):
        self.assertEqual(me.parse_args(['--file', 'f', '--id', '3']),
                         {'file': 'f', 'id': 3, 'id_base': None, 'engine_set': None, 'stdin': False, 'allow_insecure': False})
        self.assertEqual(me.parse_args(['--connection-stdin', '--id-base', '4', '--engine-set', 'set-2']),
                         {'file': None, 'id': None, 'id_base': 4, 'engine_set': 'set-2', 'stdin': True, 'allow_insecure': False})
        self.assertEqual(me.parse_args(['--file=f', '--allow-insecure'])['allow_insecure'], True)
        for bad in ([], ['--id', 'x', '--file', 'f'], ['--bogus']):
            with self.assertRaises(SystemExit):
                me.parse_args(bad)



class _Req(object):
    def __init__(self, msg_id, origin=None):
        self.msg_id = msg_id
        self.origin = origin


class TestRequestQueue(unittest.TestCase):
    """Issue 11: msg_ids aborted before their request arrived are refused by put(), once."""

    def test_abort_takes_queued_and_remembers_the_rest(self):
        from multiengine_python.work_queue import RequestQueue
        q = RequestQueue()
        self.assertTrue(q.put(_Req('a')))
        self.assertTrue(q.put(_Req('b', origin='direct')))
        taken = q.abort(['b', 'late', 'running'], 'running')
        self.assertEqual([r.msg_id for r in taken], ['b'])
        self.assertEqual(q.direct, 0)
        self.assertEqual(list(q.early_aborts), ['late'])
        self.assertFalse(q.put(_Req('late', origin='direct')))  # refused: answered 'aborted' instead
        self.assertTrue(q.put(_Req('late')))  # only once
        self.assertTrue(q.put(_Req('running')))

    def test_bounded_oldest_first(self):
        from multiengine_python.work_queue import MAX_EARLY_ABORTS, RequestQueue
        q = RequestQueue()
        ids = ['m%d' % i for i in range(MAX_EARLY_ABORTS + 1)]
        q.abort(ids, None)
        self.assertEqual(len(q.early_aborts), MAX_EARLY_ABORTS)
        self.assertTrue(q.put(_Req(ids[0])))
        self.assertFalse(q.put(_Req(ids[-1])))


class TestInterrupts(unittest.TestCase):
    """An interrupt_request turns into a SIGINT to the main thread, whose handler raises
    KeyboardInterrupt in user code only; these run that handler for real in this process."""

    def setUp(self):
        import signal
        from multiengine_python.interrupt import Interrupts
        from multiengine_python.namespace import Namespace
        self.space = Namespace()
        self.handling = False  # the engine's `current is not None`: a request is being handled
        self.interrupts = Interrupts(self.space, lambda: self.handling)
        prev = signal.getsignal(signal.SIGINT)
        self.addCleanup(signal.signal, signal.SIGINT, prev)
        self.interrupts.install()
        self.ran = []

    def deliver(self):
        """interrupt() as the engine's reader thread calls it; the handler runs on this thread."""
        import time
        self.interrupts.interrupt()
        time.sleep(0.01)  # a few bytecodes later the handler has run

    def test_before_the_request_code_starts_it_is_interrupted_when_it_starts(self):
        self.handling = True  # the engine took the request; its code has not started
        self.deliver()
        self.assertTrue(self.space.interrupt_pending)
        with self.assertRaises(KeyboardInterrupt):
            self.space.user(self.ran.append, 'code')
        self.assertEqual(self.ran, [], 'the code never ran')
        # Taken once: the request's next part (say, repr of its value) is not interrupted again.
        self.space.user(self.ran.append, 'repr')
        self.assertEqual(self.ran, ['repr'])

    def test_between_requests_it_is_ignored_and_the_next_request_runs(self):
        self.deliver()  # nothing runs: not kept for the next request
        self.assertFalse(self.space.interrupt_pending)
        self.handling = True
        self.space.user(self.ran.append, 'next')
        self.assertEqual(self.ran, ['next'])

    def test_while_user_code_runs_it_raises_there(self):
        import time
        self.handling = True

        def spin():
            self.interrupts.interrupt()
            t = time.monotonic() + 5
            while time.monotonic() < t:
                pass
            self.ran.append('finished')
        t0 = time.monotonic()
        with self.assertRaises(KeyboardInterrupt):
            self.space.user(spin)
        self.assertEqual(self.ran, [])
        self.assertLess(time.monotonic() - t0, 4)
        self.assertFalse(self.space.interrupt_pending)


if __name__ == '__main__':
    unittest.main()
