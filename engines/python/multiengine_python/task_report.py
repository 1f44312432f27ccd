"""task_report: tells the controller about each direct request this engine answered (protocol
section 13), which the controller never sees, so its task database records them too. Per
request only what is at hand is kept (one tuple); the report is built when it goes out, in the
protocol's columns form, from bytes that already exist and lists made in one pass each, so that
no entry is built or encoded per request: the requests' headers as received, the replies'
metadata as sent (their times), the replies' sizes, and a row of extras only where the code
changes or a label, output or an outcome other than ok is there. Reports go out when the engine
goes idle with REPORT_SECONDS up since the last; while it has requests to run, they wait (a
thread sends them after BUSY_SECONDS at the latest, as user code may hold the main thread), so
that in a burst neither the engine's loop nor the controller spends time on them; and at once
when REPORT_MAX pile up or they printed REPORT_OUTPUT_CHARS. Off unless the controller's
registration_reply asks for reports (a controller with --db none does not)."""

import collections
import json
import threading
import time

from .wire import MessageTooLarge, block_sigint, log

REPORT_SECONDS = 0.05
#: While the engine has requests to run, a report waits for it to go idle, at most this long.
BUSY_SECONDS = 1.0
REPORT_MAX = 4096
#: Characters of output waiting in a report at which it goes at once (a report must stay well
#: under the maximum message size, and what requests print is most of what could make it big).
REPORT_OUTPUT_CHARS = 1 << 20
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
    """The report's buffer in the columns form (protocol section 13) from `add`'s tuples (request
    header bytes, reply metadata bytes, reply size, code or function as sent or None, else its
    code_of, label, status, output, error content): headers GS metadata GS sizes GS extras."""
    keys = [t[3] for t in items]
    labels = [t[5] for t in items]
    statuses = [t[6] for t in items]
    outputs = [t[7] for t in items]
    n = len(items)
    if (keys[0] is not None and keys.count(keys[0]) == n and labels.count(None) == n
            and statuses.count('ok') == n and outputs.count(None) == n):
        rows = [[0, keys[0][:CODE_CHARS], None]]  # a burst of one code or function, nothing else
    else:
        rows = _rows(items, keys, labels, statuses, outputs)
    return b''.join((RS.join([t[0] for t in items]), GS, RS.join([t[1] for t in items]), GS,
                     _encode([t[2] for t in items]).encode('ascii'), GS, _encode(rows).encode('utf-8')))


def _rows(items, keys, labels, statuses, outputs):
    """The extras rows: where the code changes, or a label, output or an outcome other than ok is
    there (a row's code is SAME when only the rest is new)."""
    rows = []
    was = None
    for i, key in enumerate(keys):
        label, status, output = labels[i], statuses[i], outputs[i]
        same = i > 0 and key is not None and key == was
        if same and label is None and status == 'ok' and not output:
            continue
        was = key
        row = [i, SAME if same else key[:CODE_CHARS] if key is not None else items[i][4], label if label.__class__ is str else None]
        if status != 'ok' or output:
            error = status != 'aborted' and status != 'ok'
            row.append('error' if error else None if status == 'ok' else 'aborted')
            if output or error:
                row += [output.get('stdout'), output.get('stderr')] if output else [None, None]
            if error:
                content = items[i][8]
                ename, evalue = content.get('ename'), content.get('evalue')
                row += [ename if isinstance(ename, str) else 'Error', evalue[:EVALUE_CHARS] if isinstance(evalue, str) else '']
        rows.append(row)
    return rows


class TaskReporter(object):
    """`send(content, buffer)` sends a task_report on the main connection (OSError when it is
    down: the entries are dropped)."""

    def __init__(self, send, busy=lambda: False):
        self.send = send
        #: True while the engine has requests to run (reports then wait, see BUSY_SECONDS).
        self.busy = busy
        #: Set from registration_reply.report_tasks.
        self.enabled = False
        #: Requests reported so far.
        self.sent = 0
        #: One flush at a time takes what waits (add appends without it: a deque's ends are atomic).
        self.lock = threading.Lock()
        self.items = collections.deque()
        self.sent_at = -REPORT_SECONDS
        #: When the first of the waiting requests was added.
        self.first_at = 0.0
        #: Characters of output the waiting requests printed.
        self.output_chars = 0
        self.wake = None

    def add(self, msg, metadata, content, size, output=None):
        """A direct request was answered: its reply's metadata as sent (JSON bytes), content and
        size in bytes; `output` what it printed. Only bytes, strings and numbers are kept (the
        error's content where there is one): a request kept whole until its report goes out would
        outlive the garbage collector's young generations, and full collections would walk it."""
        if not self.enabled:
            return
        c = msg.content
        # An execute's code or an apply's function: compared as it is, truncated only for a row
        # (where it changes). Anything else (push's or pull's names) gets a row of its own.
        key = c.get('code')
        if key.__class__ is not str:
            key = c.get('fn')
        status = content.get('status')
        if key.__class__ is str:
            entry = (msg.header_bytes, metadata, size, key, None, msg.metadata.get('label'), status, output,
                     None if status == 'ok' else content)
        else:
            entry = (msg.header_bytes, metadata, size, None, code_of(c), msg.metadata.get('label'), status, output,
                     None if status == 'ok' else content)
        items = self.items
        items.append(entry)
        n = len(items)
        if output:
            self.output_chars += sum(len(v) for v in output.values() if isinstance(v, str))
        if n >= REPORT_MAX or self.output_chars >= REPORT_OUTPUT_CHARS:
            self.flush()
        elif n == 1:
            self.first_at = time.monotonic()
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
            self.output_chars = 0
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
            # Not in the middle of a burst: the engine's loop and the controller would share
            # the machine with the requests (idle() sends it when the burst ends).
            while self.items and self.busy() and time.monotonic() - self.first_at < BUSY_SECONDS:
                time.sleep(REPORT_SECONDS)
            self.flush()
