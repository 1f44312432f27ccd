"""Captured output: sys.stdout / sys.stderr while the engine runs, sent as `stream` messages."""

import io
import threading
import time

from .wire import DEFAULT_MAX_MESSAGE_BYTES, STREAM_FLUSH_SECONDS, MessageTooLarge, block_sigint, log

#: The most text one stream message carries.
STREAM_PIECE_CHARS = 1024 * 1024
#: Kept of each stream of a direct request for its task record (as task_report.OUTPUT_CHARS says).
KEPT_CHARS = 16 * 1024
TRUNCATED_MARKER = ('\n[output truncated: this request wrote more than %d characters; '
                    'the rest is dropped (the controller\'s --max-output-bytes)]\n')


class OutStream(io.TextIOBase):
    """sys.stdout / sys.stderr while the engine runs: text goes out as stream messages."""

    def __init__(self, output, name, real):
        io.TextIOBase.__init__(self)
        self._output = output
        self._name = name
        self._real = real
        self.buffer = _BinaryOut(self)

    @property
    def name(self):
        return '<%s>' % self._name

    @property
    def encoding(self):
        return 'utf-8'

    @property
    def errors(self):
        return 'strict'

    def writable(self):
        return True

    def readable(self):
        return False

    def isatty(self):
        return False

    def write(self, s):
        if not isinstance(s, str):
            raise TypeError('write() argument must be str, not %s' % type(s).__name__)
        if s:
            self._output.write(self._name, s)
        return len(s)

    def writelines(self, lines):
        for line in lines:
            self.write(line)

    def flush(self):
        self._output.flush_soon()


class _BinaryOut(object):
    def __init__(self, text):
        self._text = text

    def write(self, b):
        self._text.write(bytes(b).decode('utf-8', 'replace'))
        return len(b)

    def flush(self):
        self._text.flush()


class Output(object):
    """Collects captured text and sends it as `stream` messages at most STREAM_FLUSH_SECONDS
    after it was written, from its own thread; flush() sends everything at once. `send(origin,
    msg_type, content, parent, metadata)` routes them as the running request's reply."""

    def __init__(self, send, real_out, real_err, limit=0, max_message_bytes=DEFAULT_MAX_MESSAGE_BYTES):
        self.send = send
        self.max_message_bytes = max_message_bytes
        self.real = {'stdout': real_out, 'stderr': real_err}
        self.lock = threading.Lock()
        self.send_lock = threading.Lock()
        self.pending = []
        self.parent = None
        self.metadata = None
        self.origin = None
        self.wake = threading.Event()
        self.urgent = False
        #: Keep what a direct request printed for its task_report (set when the controller asks for reports).
        self.keep = False
        #: The running (or latest) direct request's output, {name: text} up to KEPT_CHARS each; None if it printed nothing.
        self.kept = None
        #: Characters of output allowed per request (0: no limit); past it a marker, then nothing.
        self.limit = limit
        self.count = 0
        self.truncated = False

    def write(self, name, text):
        with self.lock:
            before = len(self.pending)
            if self.parent is not None and self.limit:
                if self.truncated:
                    return
                if self.count + len(text) > self.limit:
                    keep = self.limit - self.count
                    if keep > 0:
                        self.pending.append((name, text[:keep]))
                    self.pending.append(('stderr', TRUNCATED_MARKER % self.limit))
                    self.count = self.limit
                    self.truncated = True
                else:
                    self.count += len(text)
                    self.pending.append((name, text))
            else:
                self.pending.append((name, text))
            first = before == 0 and len(self.pending) > 0
        if first:
            self.wake.set()

    def flush_soon(self):
        self.urgent = True
        self.wake.set()

    def set_parent(self, parent, metadata, origin=None):
        with self.lock:
            self.parent = parent
            self.metadata = metadata
            self.origin = origin
            self.count = 0
            self.truncated = False
            if parent is not None:
                self.kept = None

    def flush(self):
        if not self.pending and not self.send_lock.locked():
            return  # nothing written and no flush under way (most requests print nothing)
        with self.send_lock:
            with self.lock:
                items, self.pending = self.pending, []
                parent, metadata, origin = self.parent, self.metadata, self.origin
            if not items:
                return
            runs = []
            for name, text in items:
                if runs and runs[-1][0] == name:
                    runs[-1][1].append(text)
                else:
                    runs.append((name, [text]))
            for name, texts in runs:
                text = ''.join(texts)
                if parent is None:
                    try:  # output outside any request (a background thread): the engine's own stdio
                        self.real[name].write(text)
                        self.real[name].flush()
                    except Exception:
                        pass
                    continue
                # Pieces of at most 1 Mi characters: the controller holds a message whole while it forwards
                # it, and a piece must stay under the maximum message size even as escaped JSON.
                if origin is not None and self.keep:
                    self._keep(name, text)
                most = max(1024, min(STREAM_PIECE_CHARS, (self.max_message_bytes - 4096) // 6))
                try:
                    for i in range(0, len(text), most):
                        self.send(origin, 'stream', {'name': name, 'text': text[i:i + most]}, parent, metadata)
                except (OSError, MessageTooLarge):
                    return

    def _keep(self, name, text):
        kept = self.kept if self.kept is not None else {}
        have = kept.get(name, '')
        if len(have) < KEPT_CHARS:
            kept[name] = have + text[:KEPT_CHARS - len(have)]
        self.kept = kept

    def run(self):
        block_sigint()
        while True:
            self.wake.wait()
            self.wake.clear()
            if not self.urgent:
                time.sleep(STREAM_FLUSH_SECONDS)
            self.urgent = False
            try:
                self.flush()
            except Exception as e:  # pragma: no cover
                log('output thread: %r' % e)

