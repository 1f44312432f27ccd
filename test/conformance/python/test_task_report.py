"""The python engine's task_report batching (multiengine_python/task_report.py), with its real
thread and a collecting send.

Run: python3 -m unittest discover -s test/conformance/python
"""

import json
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fake_controller import ENGINE_DIR  # noqa: E402

sys.path.insert(0, ENGINE_DIR)
from multiengine_python import task_report as tr  # noqa: E402
from multiengine_python.wire import Message  # noqa: E402


def request(code, label=None, session='client-session', n=[0]):
    n[0] += 1
    header = {'msg_id': 'm-%d' % n[0], 'msg_type': 'execute_request', 'session': session,
              'date': '2026-01-01T00:00:00.000Z'}
    md = {'targets': [0]}
    if label is not None:
        md['label'] = label
    msg = Message(header, {}, md, {'code': code}, [], json.dumps(header).encode('utf-8'))
    msg.received = '2026-01-01T00:00:00.001Z'
    return msg


#: The positions of an entry (protocol section 13, DIRECT_ENTRY_FIELDS in core/protocol/messages.ts).
FIELDS = ['msg_id', 'msg_type', 'session', 'submitted', 'received', 'started', 'completed', 'status',
          'result_bytes', 'code', 'label', 'stdout', 'stderr', 'ename', 'evalue']


def read_columns(buf, n):
    """The entries of a columns-form buffer as the protocol defines them (the controller's
    reader is core/protocol/directEntries.ts), and its extras rows."""
    heads, metas, sizes, extras = buf.split(b'\x1d')
    heads = [json.loads(h) for h in heads.split(b'\x1e')] if n else []
    metas = [json.loads(m) for m in metas.split(b'\x1e')] if n else []
    sizes = json.loads(sizes.decode('ascii'))
    rows = json.loads(extras.decode('utf-8'))
    assert len(heads) == len(metas) == len(sizes) == n, (len(heads), len(metas), len(sizes), n)
    entries, code, by_i = [], None, {row[0]: row for row in rows}
    assert sorted(by_i) == [row[0] for row in rows], rows
    for i in range(n):
        h, m = heads[i], metas[i]
        row = by_i.get(i, [i])
        if len(row) > 1 and row[1] != 0:
            code = row[1]
        assert not (i == 0 and len(row) > 1 and row[1] == 0), 'the first entry has its own code'
        status = row[3] if len(row) > 3 and row[3] is not None else 'ok'
        t = [h['msg_id'], h['msg_type'], h['session'], h.get('date'), m['received'], m['started'], m['completed'], status, sizes[i], code]
        t += (row[2:3] + [None])[:1] + (row[4:] + [None] * 4)[:4]
        entries.append(t)
    return entries, rows


class Collecting(object):
    """Keeps each report's entries as the controller reads them (the columns form, `n` of
    them), named by field, the optional ones only when set; `rows`: each report's extras."""

    def __init__(self, fail=False):
        self.reports = []
        self.rows = []
        self.fail = fail

    def __call__(self, content, buf):
        tasks, rows = read_columns(buf, content['n'])
        assert content == {'n': len(tasks)}, content
        self.reports.append([{FIELDS[i]: v for i, v in enumerate(t) if i < 11 or v is not None} for t in tasks])
        self.rows.append(rows)
        if self.fail:
            raise OSError('no controller connection')


def reporter(fail=False, busy=lambda: False):
    send = Collecting(fail)
    r = tr.TaskReporter(send, busy)
    r.enabled = True
    return send, r


#: A reply's metadata as the engine sends it (replies.py), which holds the request's times.
META = json.dumps({'engine_id': 0, 'received': '2026-01-01T00:00:00.001Z', 'started': '2026-01-01T00:00:00.002Z',
                   'completed': '2026-01-01T00:00:00.003Z'}).encode('utf-8')


def add(r, msg, content=None, size=10, output=None):
    r.add(msg, META, content or {'status': 'ok'}, size, output)


def until(check, timeout=2.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.01)
    return check()


class TestTaskReport(unittest.TestCase):
    def test_output_goes_only_with_a_request_that_printed(self):
        send, r = reporter()
        printed, quiet = request('print(1)'), request('1')
        add(r, printed, output={'stdout': '1\n'})
        add(r, quiet)
        r.flush()
        [[a, b]] = send.reports
        self.assertEqual((a.get('stdout'), 'stderr' in a), ('1\n', False))
        self.assertFalse('stdout' in b or 'stderr' in b)

    def test_off_until_the_controller_asks(self):
        send, r = reporter()
        r.enabled = False
        add(r, request('1'))
        r.idle()
        r.flush()
        self.assertEqual((send.reports, r.sent, list(r.items)), ([], 0, []))

    def test_first_request_after_a_quiet_moment_goes_out_when_idle_with_the_record_fields(self):
        send, r = reporter()
        msg = request('6 * 7', 'mine')
        add(r, msg, {'status': 'ok', 'execution_count': 1}, 123)
        r.idle()
        self.assertEqual(send.reports, [[{
            'msg_id': msg.msg_id, 'msg_type': 'execute_request', 'session': 'client-session',
            'submitted': '2026-01-01T00:00:00.000Z', 'received': '2026-01-01T00:00:00.001Z',
            'started': '2026-01-01T00:00:00.002Z', 'completed': '2026-01-01T00:00:00.003Z',
            'status': 'ok', 'result_bytes': 123, 'code': '6 * 7', 'label': 'mine'}]])
        self.assertEqual(r.sent, 1)

    def test_within_the_interval_requests_wait_and_the_thread_sends_them_together(self):
        send, r = reporter()
        add(r, request('a'))
        r.idle()
        add(r, request('b'))
        r.idle()  # too soon after the last report: held
        add(r, request('c'))
        self.assertEqual(len(send.reports), 1)
        self.assertTrue(until(lambda: len(send.reports) == 2), 'the timed report came')
        self.assertEqual([t['code'] for t in send.reports[1]], ['b', 'c'])
        self.assertEqual(r.sent, 3)

    def test_while_the_engine_has_requests_to_run_the_thread_waits_for_it_to_go_idle(self):
        state = {'busy': True}
        send, r = reporter(busy=lambda: state['busy'])
        add(r, request('a'))
        time.sleep(3 * tr.REPORT_SECONDS)
        self.assertEqual(send.reports, [], 'no report in the middle of a burst')
        state['busy'] = False
        self.assertTrue(until(lambda: len(send.reports) == 1), 'the report once the engine is idle')
        self.assertEqual([t['code'] for t in send.reports[0]], ['a'])

    def test_a_busy_engine_reports_at_least_every_busy_seconds(self):
        send, r = reporter(busy=lambda: True)
        was, tr.BUSY_SECONDS = tr.BUSY_SECONDS, 0.2
        try:
            t0 = time.monotonic()
            add(r, request('a'))
            add(r, request('b'))
            self.assertTrue(until(lambda: len(send.reports) == 1), 'the report while busy')
            self.assertGreaterEqual(time.monotonic() - t0, 0.2)
            self.assertEqual([t['code'] for t in send.reports[0]], ['a', 'b'])
        finally:
            tr.BUSY_SECONDS = was

    def test_a_busy_engines_report_goes_at_once_when_its_requests_printed_report_output_chars(self):
        send, r = reporter(busy=lambda: True)
        printed = {'stdout': 'o' * 16384, 'stderr': 'e' * 16384}
        n = -(-tr.REPORT_OUTPUT_CHARS // (2 * 16384))
        for i in range(n - 1):
            add(r, request('p%d' % i), output=printed)
        self.assertEqual(send.reports, [], 'below the limit, a busy engine keeps its report')
        add(r, request('last'), output=printed)
        self.assertEqual([len(x) for x in send.reports], [n], 'at the limit it goes at once')
        self.assertEqual(send.reports[0][-1]['stdout'], printed['stdout'])

    def test_any_text_in_a_field_comes_back_exactly_and_repeats_go_once(self):
        send, r = reporter()
        odd = 'a "quoted" \\ back\nslash, tab\t, \u00e9t\u00e9 \u2603 \U0001f600 \x00 \x1d\x1e\x1f'
        msgs = [request(odd, odd, odd), request(odd, session=odd), request('other', session=odd)]
        add(r, msgs[0], {'status': 'error', 'ename': odd, 'evalue': odd}, 7, {'stderr': odd})
        add(r, msgs[1])
        add(r, msgs[2])
        r.flush()
        self.assertEqual(send.rows[0], [[0, odd, odd, 'error', None, odd, odd, odd], [2, 'other', None]], 'code sent once while it repeats')
        a, b, c = send.reports[0]
        self.assertEqual((a['session'], a['code'], a['label'], a['stderr'], a['ename'], a['evalue'], a['result_bytes']), (odd, odd, odd, odd, odd, odd, 7))
        self.assertEqual((b['session'], b['code'], c['session'], c['code']), (odd, odd, odd, 'other'))
        add(r, request(odd))
        r.flush()
        self.assertEqual(send.rows[1], [[0, odd, None]], 'the first entry of a report has its own code')

    def test_report_max_waiting_go_out_at_once_in_one_report(self):
        send, r = reporter()
        add(r, request('first'))
        r.idle()
        for i in range(tr.REPORT_MAX):
            add(r, request(str(i)))
        self.assertEqual(len(send.reports), 2)
        self.assertEqual(len(send.reports[1]), tr.REPORT_MAX)
        self.assertEqual([t['code'] for t in send.reports[1][:3]], ['0', '1', '2'])
        self.assertEqual(list(r.items), [])

    def test_errors_keep_ename_and_truncated_evalue_code_truncated_aborted_has_no_error(self):
        send, r = reporter()
        add(r, request('x' * (tr.CODE_CHARS + 10)), {'status': 'error', 'ename': 'ValueError', 'evalue': 'v' * 5000})
        add(r, request('y'), {'status': 'aborted'})
        r.flush()
        err, aborted = send.reports[0]
        self.assertEqual((err['status'], err['ename'], len(err['evalue']), len(err['code'])),
                         ('error', 'ValueError', tr.EVALUE_CHARS, tr.CODE_CHARS))
        self.assertEqual(aborted['status'], 'aborted')
        self.assertNotIn('ename', aborted)

    def test_code_repeated_from_the_entry_before_has_no_row_unless_something_else_does(self):
        send, r = reporter()
        for code in ('f', 'f', 'g', 'f'):
            add(r, request(code))
        add(r, request('f'), {'status': 'error', 'ename': 'E', 'evalue': 'v'})
        r.flush()
        self.assertEqual(send.rows[0], [[0, 'f', None], [2, 'g', None], [3, 'f', None], [4, 0, None, 'error', None, None, 'E', 'v']])
        self.assertEqual([t['code'] for t in send.reports[0]], ['f', 'f', 'g', 'f', 'f'])

    def test_a_burst_of_one_code_has_one_row_and_push_pull_and_no_code_get_rows_of_their_own(self):
        send, r = reporter()
        for _ in range(5):
            add(r, request('f(x)'))
        r.flush()
        self.assertEqual(send.rows[0], [[0, 'f(x)', None]], 'one row for the whole burst')
        self.assertEqual([t['code'] for t in send.reports[0]], ['f(x)'] * 5)

        def other(content):
            msg = request('unused')
            msg.content = content
            return msg
        for msg in (request('f(x)'), other({'names': ['a']}), other({'names': ['b']}), other({'ns': {'c': 1}}),
                    other({}), other({}), request('f(x)')):
            add(r, msg)
        r.flush()
        self.assertEqual([t['code'] for t in send.reports[1]], ['f(x)', 'a', 'b', 'c', None, None, 'f(x)'])
        self.assertEqual([row[0] for row in send.rows[1]], [0, 1, 2, 3, 4, 5, 6])

    def test_times_come_from_the_reply_metadata_as_sent(self):
        send, r = reporter()
        meta = b'{"engine_id": 3, "received": "R", "started": "S", "completed": "C", "orphan": true}'
        r.add(request('1'), meta, {'status': 'aborted'}, 5)
        r.flush()
        [[t]] = send.reports
        self.assertEqual((t['received'], t['started'], t['completed'], t['status'], t['result_bytes']), ('R', 'S', 'C', 'aborted', 5))
        self.assertEqual(send.rows[0], [[0, '1', None, 'aborted']])

    def test_a_buffer_holds_each_header_as_received(self):
        send, r = reporter()
        msg = request('1')
        msg.header_bytes = b'{ "msg_id" : "m-raw", "msg_type":"execute_request",\n "session":"s", "extra": [1, 2] }'
        add(r, msg)
        r.flush()
        self.assertEqual((send.reports[0][0]['msg_id'], send.reports[0][0]['session'], send.reports[0][0]['submitted']), ('m-raw', 's', None))

    def test_a_request_that_went_well_leaves_nothing_for_the_garbage_collector_to_walk(self):
        # A request kept whole (its dicts) until the report goes out outlives the collector's
        # young generations; thousands of them made full collections and slowed the engine.
        import gc
        send, r = reporter()
        add(r, request('x = 1', label='named'), size=7)
        add(r, request('1'), output={'stdout': '1\n'})
        ok, printed = r.items
        self.assertEqual([f for f in ok if gc.is_tracked(f)], [])
        self.assertEqual([f for f in printed if gc.is_tracked(f)], [])  # its output: a dict of strings
        r.flush()
        self.assertEqual([(e['code'], e.get('label'), e['result_bytes']) for e in send.reports[0]],
                         [('x = 1', 'named', 7), ('1', None, 10)])

    def test_push_and_pull_name_their_variables(self):
        self.assertEqual(tr.code_of({'ns': {'a': 1, 'b': 2}}), 'a, b')
        self.assertEqual(tr.code_of({'names': ['a', 'b']}), 'a, b')
        self.assertEqual(tr.code_of({'fn': 'lambda x: x'}), 'lambda x: x')
        self.assertIsNone(tr.code_of({}))

    def test_without_a_controller_connection_the_report_is_dropped_and_not_counted(self):
        send, r = reporter(fail=True)
        add(r, request('1'))
        r.flush()
        self.assertEqual((len(send.reports), r.sent, list(r.items)), (1, 0, []))


if __name__ == '__main__':
    unittest.main()
