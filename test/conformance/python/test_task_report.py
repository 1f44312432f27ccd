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


def request(code, label=None, n=[0]):
    n[0] += 1
    header = {'msg_id': 'm-%d' % n[0], 'msg_type': 'execute_request', 'session': 'client-session',
              'date': '2026-01-01T00:00:00.000Z'}
    md = {'targets': [0]}
    if label is not None:
        md['label'] = label
    msg = Message(header, {}, md, {'code': code}, [])
    msg.received = '2026-01-01T00:00:00.001Z'
    return msg


#: The positions of an entry (protocol section 13, DIRECT_ENTRY_FIELDS in core/protocol/messages.ts).
FIELDS = ['msg_id', 'msg_type', 'session', 'submitted', 'received', 'started', 'completed', 'status',
          'result_bytes', 'code', 'label', 'stdout', 'stderr', 'ename', 'evalue']


class Collecting(object):
    """Keeps each report's entries as the controller reads them (JSON in the buffer, `n` of
    them), named by field; the optional ones only when set."""

    def __init__(self, fail=False):
        self.reports = []
        self.fail = fail

    def __call__(self, content, entries):
        tasks = json.loads(entries.decode('utf-8'))
        assert content == {'n': len(tasks)}, content
        for i, t in enumerate(tasks):
            assert 11 <= len(t) <= len(FIELDS), t
            for k in (2, 9):  # session, code: 0 is the same as the entry before's (the controller puts it back)
                if t[k] == 0:
                    assert i > 0, t
                    t[k] = tasks[i - 1][k]
        self.reports.append([{FIELDS[i]: v for i, v in enumerate(t) if i < 11 or v is not None} for t in tasks])
        if self.fail:
            raise OSError('no controller connection')


def reporter(fail=False):
    send = Collecting(fail)
    r = tr.TaskReporter(send)
    r.enabled = True
    return send, r


def add(r, msg, content=None, size=10):
    r.add(msg, '2026-01-01T00:00:00.002Z', '2026-01-01T00:00:00.003Z', content or {'status': 'ok'}, size)


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
        r.add(printed, '2026-01-01T00:00:00.002Z', '2026-01-01T00:00:00.003Z', {'status': 'ok'}, 10, {'stdout': '1\n'})
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
        self.assertEqual((send.reports, r.sent, r.items), ([], 0, []))

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

    def test_any_text_in_a_field_comes_back_exactly_and_repeats_go_once(self):
        send, raw = Collecting(), []
        r = tr.TaskReporter(lambda content, entries: (raw.append(json.loads(entries.decode('utf-8'))), send(content, entries)))
        r.enabled = True
        odd = 'a "quoted" \\ back\nslash, tab\t, \u00e9t\u00e9 \u2603 \U0001f600 \x00'
        msgs = [request(odd, odd), request(odd), request('other')]
        for m in msgs:
            m.header['session'] = odd
        r.add(msgs[0], '2026-01-01T00:00:00.002Z', '2026-01-01T00:00:00.003Z', {'status': 'error', 'ename': odd, 'evalue': odd}, 7, {'stderr': odd})
        add(r, msgs[1])
        add(r, msgs[2])
        r.flush()
        self.assertEqual([(t[2], t[9]) for t in raw[0]], [(odd, odd), (0, 0), (0, 'other')], 'session and code sent once while they repeat')
        a, b, c = send.reports[0]
        self.assertEqual((a['session'], a['code'], a['label'], a['stderr'], a['ename'], a['evalue'], a['result_bytes']), (odd, odd, odd, odd, odd, odd, 7))
        self.assertEqual((b['session'], b['code'], c['session'], c['code']), (odd, odd, odd, 'other'))
        add(r, request(odd))
        r.flush()
        self.assertEqual((raw[1][0][2], raw[1][0][9]), ('client-session', odd), 'the first entry of a report is never SAME')

    def test_report_max_waiting_go_out_at_once_in_one_report(self):
        send, r = reporter()
        add(r, request('first'))
        r.idle()
        for i in range(tr.REPORT_MAX):
            add(r, request(str(i)))
        self.assertEqual(len(send.reports), 2)
        self.assertEqual(len(send.reports[1]), tr.REPORT_MAX)
        self.assertEqual([t['code'] for t in send.reports[1][:3]], ['0', '1', '2'])
        self.assertEqual(r.items, [])

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

    def test_a_session_or_code_repeated_from_the_entry_before_is_sent_as_0(self):
        send, r = reporter()
        sent = []
        r.send = lambda content, entries: sent.append(__import__('json').loads(entries.decode('utf-8')))
        for code in ('f', 'f', 'g', 'f'):
            add(r, request(code))
        r.flush()
        self.assertEqual([(t[2], t[9]) for t in sent[0]], [('client-session', 'f'), (0, 0), (0, 'g'), (0, 'f')])

    def test_push_and_pull_name_their_variables(self):
        self.assertEqual(tr.code_of({'ns': {'a': 1, 'b': 2}}), 'a, b')
        self.assertEqual(tr.code_of({'names': ['a', 'b']}), 'a, b')
        self.assertEqual(tr.code_of({'fn': 'lambda x: x'}), 'lambda x: x')
        self.assertIsNone(tr.code_of({}))

    def test_without_a_controller_connection_the_report_is_dropped_and_not_counted(self):
        send, r = reporter(fail=True)
        add(r, request('1'))
        r.flush()
        self.assertEqual((len(send.reports), r.sent, r.items), (1, 0, []))


if __name__ == '__main__':
    unittest.main()
