"""task_report: tells the controller about each direct request this engine answered (protocol
section 13), which the controller never sees, so its task database records them too. Per
request only what is at hand is kept (one tuple); the report is built when it goes out, in the
protocol's columns form, so that no entry is built or encoded per request: the requests'
headers as received, a text record of times per request, and a row of extras only where the
code changes or a label, output or error is there. Reports go out at most every REPORT_SECONDS
(from a thread, as user code may hold the main one), at once when REPORT_MAX pile up, and when
the engine goes idle with the interval up. Off unless the controller's registration_reply asks
for reports (a controller with --db none does not)."""

import collections
import json
import threading
import time

from .wire import MessageTooLarge, block_sigint, log

REPORT_SECONDS = 0.05
REPORT_MAX = 512
#: Kept of a request's code, function source or names (as the controller's recorder keeps).
CODE_CHARS = 4096
#: Kept of an error's evalue (the traceback stays with the client).
EVALUE_CHARS = 1024
#: In place of an extras row's code: the same as the entry before's (protocol section 13).
SAME = 0
#: Separators of the columns form: between its sections, between entries, between a times
#: record's fields. No JSON text holds them raw (a header that parsed has none).
GS, RS, US = b'\x1d', '\x1e', '\x1f'
#: The extras are flat lists: no check for cycles.
_encode = json.JSONEncoder(separators=(',', ':'), check_circular=False).encode


def code_of(content):
    """The code (execute), the function's source (apply) or the names (push, pull), truncated."""
    s = None
    if isinstance(content.get('code'), str):
        s = content['code']
    elif isinstance(content.get('fn'), str):
        s = content['fn']
    elif isinstance(content.get('names'), list):
        s = ', '.join(str(n) for n in content['names'])
    elif isinstance(content.get('ns'), dict):
        s = ', '.join(content['ns'])
    return s[:CODE_CHARS] if s is not None else None


def columns(items):
    """The report's buffer in the columns form (protocol section 13) from (msg, started,
    completed, reply content, reply size, output) tuples: headers GS times GS extras."""
    heads, times, rows = [], [], []
    code = None
    for i, (msg, started, completed, content, size, output) in enumerate(items):
        heads.append(msg.header_bytes)
        status = content.get('status')
        if status != 'ok' and status != 'aborted':
            status = 'error'
        times.append(US.join((msg.received or started, started, completed, status, str(size))))
        # Content and metadata are dicts: decode_message checked them when the request came.
        was, code = code, code_of(msg.content)
        label = msg.metadata.get('label')
        if not isinstance(label, str):
            label = None
        if code != was or label is not None or output or status == 'error':
            row = [i, SAME if i > 0 and code is not None and code == was else code, label]
            if output or status == 'error':
                row += [output.get('stdout'), output.get('stderr')] if output else [None, None]
            if status == 'error':
                ename, evalue = content.get('ename'), content.get('evalue')
                row += [ename if isinstance(ename, str) else 'Error', evalue[:EVALUE_CHARS] if isinstance(evalue, str) else '']
            rows.append(row)
    return b''.join((RS.encode('ascii').join(heads), GS, RS.join(times).encode('utf-8'), GS, _encode(rows).encode('utf-8')))


class TaskReporter(object):
    """`send(content, buffer)` sends a task_report on the main connection (OSError when it is
    down: the entries are dropped)."""

    def __init__(self, send):
        self.send = send
        #: Set from registration_reply.report_tasks.
        self.enabled = False
        #: Requests reported so far.
        self.sent = 0
        #: One flush at a time takes what waits (add appends without it: a deque's ends are atomic).
        self.lock = threading.Lock()
        self.items = collections.deque()
        self.sent_at = -REPORT_SECONDS
        self.wake = None

    def add(self, msg, started, completed, content, size, output=None):
        """A direct request was answered (its reply was `size` bytes; `output` what it printed)."""
        if not self.enabled:
            return
        items = self.items
        items.append((msg, started, completed, content, size, output))
        n = len(items)
        if n >= REPORT_MAX:
            self.flush()
        elif n == 1:
            if self.wake is None:  # the thread starts with the first direct request
                self.wake = threading.Event()
                threading.Thread(target=self._run, name='multiengine-task-report', daemon=True).start()
            self.wake.set()

    def idle(self):
        """The engine has nothing left to run: report now, unless a report went out less than the
        interval ago (the thread sends it)."""
        if self.items and time.monotonic() - self.sent_at >= REPORT_SECONDS:
            self.flush()

    def flush(self):
        with self.lock:
            waiting = self.items
            if not waiting:
                return
            popleft = waiting.popleft
            items = [popleft() for _ in range(len(waiting))]
            self.sent_at = time.monotonic()
        try:
            self.send({'n': len(items)}, columns(items))
            self.sent += len(items)
        except (OSError, MessageTooLarge) as e:
            log('cannot send task_report: %s' % e)

    def _run(self):
        block_sigint()
        while True:
            self.wake.wait()
            self.wake.clear()
            wait = self.sent_at + REPORT_SECONDS - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            self.flush()
