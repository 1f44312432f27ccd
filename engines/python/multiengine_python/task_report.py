"""task_report: tells the controller about each direct request this engine answered (protocol
section 13), which the controller never sees, so its task database records them too. Per
request only what is at hand is kept (one tuple); the entries (positional lists) are built
when the report goes out, as one JSON buffer: at most every REPORT_SECONDS (from a thread, as user code may hold the main one), at once
when REPORT_MAX pile up, and when the engine goes idle with the interval up. Off unless the
controller's registration_reply asks for reports (a controller with --db none does not)."""

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
#: In place of an entry's session or code: the same as the entry before's (protocol section 13).
SAME = 0
#: Entries are flat lists: no check for cycles (~10 % of the encoder's ~1 us per entry, which a
#: Python engine pays on its loop in a burst).
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


def entry(msg, started, completed, content, size, output):
    """One task_report entry, positional (protocol section 13: msg_id, msg_type, session,
    submitted, received, started, completed, status, result_bytes, code, label, then stdout,
    stderr, ename, evalue only when it printed or failed); `output`: what the request printed
    ({name: text}, capped by capture.KEPT_CHARS) or None."""
    h = msg.header
    status = content.get('status')
    if status not in ('ok', 'aborted'):
        status = 'error'
    label = msg.metadata.get('label') if isinstance(msg.metadata, dict) else None
    date = h.get('date')
    t = [h.get('msg_id'), h.get('msg_type'), h.get('session'), date if isinstance(date, str) else None,
         msg.received or started, started, completed, status, size,
         code_of(msg.content) if isinstance(msg.content, dict) else None,
         label if isinstance(label, str) else None]
    if output or status == 'error':
        t += [output.get('stdout'), output.get('stderr')] if output else [None, None]
    if status == 'error':
        ename, evalue = content.get('ename'), content.get('evalue')
        t += [ename if isinstance(ename, str) else 'Error', evalue[:EVALUE_CHARS] if isinstance(evalue, str) else '']
    return t


def same(tasks):
    """A session or code repeated from the entry before goes as SAME (a burst from one client
    runs one function over and over)."""
    session = code = None
    for i, t in enumerate(tasks):
        s, c = t[2], t[9]
        if i > 0:
            if s == session:
                t[2] = SAME
            if c is not None and c == code:
                t[9] = SAME
        session, code = s, c


class TaskReporter(object):
    """`send(content, buffer)` sends a task_report on the main connection (OSError when it is
    down: the entries are dropped)."""

    def __init__(self, send):
        self.send = send
        #: Set from registration_reply.report_tasks.
        self.enabled = False
        #: Requests reported so far.
        self.sent = 0
        self.lock = threading.Lock()
        self.items = []
        self.sent_at = -REPORT_SECONDS
        self.wake = None

    def add(self, msg, started, completed, content, size, output=None):
        """A direct request was answered (its reply was `size` bytes; `output` what it printed)."""
        if not self.enabled:
            return
        with self.lock:
            self.items.append((msg, started, completed, content, size, output))
            n = len(self.items)
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
            items, self.items = self.items, []
            if not items:
                return
            self.sent_at = time.monotonic()
        tasks = [entry(*it) for it in items]
        same(tasks)
        try:
            self.send({'n': len(tasks)}, _encode(tasks).encode('utf-8'))
            self.sent += len(tasks)
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
