"""task_report: tells the controller about each direct request this engine answered (protocol
section 13), which the controller never sees, so its task database records them too. Per
request only what is at hand is kept (one tuple); the report is built when it goes out, in the
protocol's columns form, from bytes that already exist and lists made in one pass each, so that
no entry is built or encoded per request: the requests' headers as received, the replies'
metadata as sent (their times), the replies' sizes, and a row of extras only where the code
changes or a label, output or an outcome other than ok is there. Reports go out at most every
REPORT_SECONDS (from a thread, as user code may hold the main one), at once when REPORT_MAX pile
up, and when the engine goes idle with the interval up. Off unless the controller's
registration_reply asks for reports (a controller with --db none does not)."""

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
#: Separators of the columns form: between its sections, between a section's entries. No JSON
#: text holds them raw (a header that parsed has none).
GS, RS = b'\x1d', b'\x1e'
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
    """The report's buffer in the columns form (protocol section 13) from (request, reply
    metadata bytes, reply content, reply size, output) tuples: headers GS metadata GS sizes GS
    extras."""
    contents = [t[0].content for t in items]
    # An execute's code or an apply's function: compared as they are, read (code_of) only where
    # they change. Anything else (push, pull, no code) gets a row of its own.
    raws = [c.get('code') or c.get('fn') for c in contents]
    labels = [t[0].metadata.get('label') for t in items]
    statuses = [t[2].get('status') for t in items]
    outputs = [t[4] for t in items]
    n = len(items)
    if (raws[0].__class__ is str and raws.count(raws[0]) == n and labels.count(None) == n
            and statuses.count('ok') == n and outputs.count(None) == n):
        rows = [[0, code_of(contents[0]), None]]  # a burst of one code or function, nothing else
    else:
        rows = _rows(items, contents, raws, labels, statuses, outputs)
    return b''.join((RS.join([t[0].header_bytes for t in items]), GS, RS.join([t[1] for t in items]), GS,
                     _encode([t[3] for t in items]).encode('ascii'), GS, _encode(rows).encode('utf-8')))


def _rows(items, contents, raws, labels, statuses, outputs):
    """The extras rows: where the code changes, or a label, output or an outcome other than ok is
    there (a row's code is SAME when only the rest is new)."""
    rows = []
    was = None
    for i, raw in enumerate(raws):
        label, status, output = labels[i], statuses[i], outputs[i]
        same = i > 0 and raw.__class__ is str and raw == was
        if same and label is None and status == 'ok' and not output:
            continue
        was = raw
        row = [i, SAME if same else code_of(contents[i]), label if label.__class__ is str else None]
        if status != 'ok' or output:
            error = status != 'aborted' and status != 'ok'
            row.append('error' if error else None if status == 'ok' else 'aborted')
            if output or error:
                row += [output.get('stdout'), output.get('stderr')] if output else [None, None]
            if error:
                content = items[i][2]
                ename, evalue = content.get('ename'), content.get('evalue')
                row += [ename if isinstance(ename, str) else 'Error', evalue[:EVALUE_CHARS] if isinstance(evalue, str) else '']
        rows.append(row)
    return rows


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

    def add(self, msg, metadata, content, size, output=None):
        """A direct request was answered: its reply's metadata as sent (JSON bytes), content and
        size in bytes; `output` what it printed."""
        if not self.enabled:
            return
        items = self.items
        items.append((msg, metadata, content, size, output))
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
