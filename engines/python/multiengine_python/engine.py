"""The python engine: registration, heart, request queue, user namespace and request handlers."""

import builtins
import io
import json
import os
import signal
import socket
import sys
import threading
import time
import types
from collections import deque

from .wire import (
    DEFAULT_MAX_MESSAGE_BYTES, KERNEL, REGISTRATION_TIMEOUT_SECONDS, STREAM_FLUSH_SECONDS, WORK_REQUESTS,
    Channel, FrameError, MessageTooLarge, Signer, block_sigint, connect, iso_now, log, random_uuid,
)
from .direct import ActivityReporter, DirectListener, ReplayGuard

#: Set by a controller in the environment of engines it launches (registration_request.supervised).
SUPERVISED_ENV = 'MULTIENGINE_SUPERVISED'
#: The most text one stream message carries.
STREAM_PIECE_CHARS = 1024 * 1024
#: How long one reconnection attempt may wait for the controller's registration_reply.
RECONNECT_REPLY_SECONDS = 5.0
#: Messages of requests that run back to back wait at most this long (seconds) to go out together.
BATCH_SECONDS = 0.001
TRUNCATED_MARKER = ('\n[output truncated: this request wrote more than %d characters; '
                    'the rest is dropped (the controller\'s --max-output-bytes)]\n')
from .values import Encoder, SerializationError, decode_value

try:  # signal.getsignal converts the handler to an enum member, which costs more than a small request
    from _signal import getsignal as _getsignal
except ImportError:  # pragma: no cover
    _getsignal = signal.getsignal

#: Frames of files in this folder are the engine's own: tracebacks leave them out.
ENGINE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep


# --------------------------------------------------------------------------------------
# Captured output

class _OutStream(io.TextIOBase):
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
                most = max(1024, min(STREAM_PIECE_CHARS, (self.max_message_bytes - 4096) // 6))
                try:
                    for i in range(0, len(text), most):
                        self.send(origin, 'stream', {'name': name, 'text': text[i:i + most]}, parent, metadata)
                except (OSError, MessageTooLarge):
                    return

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


# --------------------------------------------------------------------------------------
# The engine

class Batch(object):
    """Messages of requests that run back to back are held in their channels and written together
    when the queue runs dry or BATCH_SECONDS after the first (then by this class's own thread when
    the main thread is still busy): one write, so one wake-up of the peer, per batch instead of per
    message. `release(chan)` writes what a channel holds; `first(chan)` is true for the main
    channel, released first, so an engine_activity that says the engine is idle still goes out
    before the direct reply after which it is."""

    def __init__(self, release, first):
        self.release = release
        self.first = first
        self.lock = threading.Lock()
        self.since = None  # when the open batch began; None: no batch is open
        self.held = []  # channels holding messages
        self.wake = None

    def open(self):
        with self.lock:
            if self.since is not None:
                return
            self.since = time.monotonic()
            if self.wake is None:  # the thread starts with the first burst
                self.wake = threading.Event()
                threading.Thread(target=self._run, name='multiengine-batch', daemon=True).start()
        self.wake.set()

    def expired(self):
        since = self.since
        return since is not None and time.monotonic() - since >= BATCH_SECONDS

    def post(self, chan, frame, args=None):
        """Channel.post, held while a batch is open."""
        with self.lock:
            if self.since is not None and chan not in self.held:
                chan.hold()
                self.held.append(chan)
        return chan.post(frame, args)

    def flush(self):
        with self.lock:
            chans, self.held, self.since = self.held, [], None
        for chan in sorted(chans, key=lambda c: not self.first(c)):
            self.release(chan)

    def _run(self):
        block_sigint()
        while True:
            self.wake.wait()
            self.wake.clear()
            while True:
                since = self.since
                if since is None:
                    break
                left = since + BATCH_SECONDS - time.monotonic()
                if left > 0:
                    time.sleep(left)
                    continue
                with self.lock:
                    current = self.since == since
                if current:  # still the same batch
                    self.flush()
                break


class Fatal(Exception):
    """The engine cannot start or go on; the message says why (printed to stderr, exit code 1)."""


class Refused(Fatal):
    """The controller answered the registration with an error."""


def _positive(v):
    """v when it is a number > 0 (not a bool), else 0."""
    return v if isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0 else 0


def _fmt_bytes(n):
    """`12.5 MiB (13107200 bytes)`, as the TypeScript client writes sizes."""
    v, units = float(n), ('bytes', 'KiB', 'MiB', 'GiB', 'TiB')
    u = 0
    while v >= 1024 and u < len(units) - 1:
        v /= 1024.0
        u += 1
    return '%d bytes' % n if u == 0 else '%.1f %s (%d bytes)' % (v, units[u], n)


class ReplyError(Exception):
    """A request failed in a way the engine describes itself (no user traceback)."""

    def __init__(self, ename, evalue, traceback=None):
        Exception.__init__(self, evalue)
        self.ename = ename
        self.evalue = evalue
        self.traceback = traceback or []


class _Stop(object):
    origin = None

    def __init__(self, code):
        self.code = code


class RequestQueue(object):
    """Work requests in arrival order, from the main and the direct connections; `busy` is true
    while the main thread runs one; `direct` counts the queued direct requests."""

    def __init__(self):
        self.items = deque()
        self.cond = threading.Condition(threading.Lock())
        self.busy = False
        self.direct = 0

    def put(self, item):
        with self.cond:
            self.items.append(item)
            if item.origin is not None:
                self.direct += 1
            self.cond.notify()

    def get(self):
        with self.cond:
            while not self.items:
                self.cond.wait()
            item = self.items.popleft()
            if item.origin is not None:
                self.direct -= 1
            self.busy = True
            return item

    def done(self):
        with self.cond:
            self.busy = False

    def find(self, wanted):
        """The queued requests for which wanted(request) is true."""
        with self.cond:
            return [item for item in self.items if not isinstance(item, _Stop) and wanted(item)]

    def take(self, wanted):
        """Removes and returns the queued requests for which wanted(request) is true."""
        with self.cond:
            keep, out = deque(), []
            for item in self.items:
                (out if not isinstance(item, _Stop) and wanted(item) else keep).append(item)
            self.items = keep
            self.direct -= sum(1 for item in out if item.origin is not None)
            return out

    def stop_if_idle(self, code):
        """Queues a stop ahead of everything when the main thread is idle; False when it is busy."""
        with self.cond:
            if self.busy:
                return False
            self.items.appendleft(_Stop(code))
            self.cond.notify()
            return True


_CO_COROUTINE = 0x0080


def _ends_with_semicolon(code, node):
    """True when the statement is followed by ';' (as in IPython, that hides Out[n])."""
    end_line = getattr(node, 'end_lineno', None)
    end_col = getattr(node, 'end_col_offset', None)
    if end_line is None or end_col is None:  # pragma: no cover
        return code.rstrip().endswith(';')
    lines = code.splitlines()
    if end_line > len(lines):
        return False
    rest = lines[end_line - 1].encode('utf-8')[end_col:].decode('utf-8', 'replace')
    return rest.lstrip().startswith(';')


class Engine(object):
    def __init__(self, info, requested_id=None, reconnect_ms=None):
        self.info = info
        self.requested_id = requested_id
        #: --reconnect-ms; None: what the controller advises in its registration_reply.
        self.reconnect_ms = reconnect_ms
        self._reconnect_ms = 0
        self.max_message_bytes = DEFAULT_MAX_MESSAGE_BYTES
        self.max_output_bytes = 0
        #: Launched by a controller: a restarted controller may adopt this engine.
        self.supervised = os.environ.pop(SUPERVISED_ENV, '') == '1'
        #: Connection generation: threads of an older one that see it break do nothing.
        self._gen = 0
        self._conn_lock = threading.Lock()
        self._reconnecting = False
        #: The request being handled (for interrupt_request's msg_ids, heartbeat.running, orphans).
        self.current = None
        #: msg_ids named by an interrupt_request before they started: answered 'aborted' if they come.
        self._cancelled = deque(maxlen=1024)
        self.signer = Signer(info['key'])
        self.session = random_uuid()
        self.uuid = random_uuid()
        self.id = None
        self.heartbeat_ms = info.get('heartbeat_ms', 1000)
        self.execution_count = 0
        self.queue = RequestQueue()
        #: Where clients connect directly (section 13); None until the first registration, or when listening failed.
        self.direct = None
        self.replays = ReplayGuard()
        self.activity = ActivityReporter(lambda: self.queue.direct, self._send_activity)
        self.batch = Batch(self._release, lambda chan: chan is self.chan)
        self.in_user_code = False
        self.chan = None
        self.heart = None
        self.output = None
        self.user_module = None
        self.ns = None
        self._fn_cache = {}
        self._fn_counter = 0
        self._loop = None
        self._stopping = False
        self._main_ident = threading.get_ident()
        self._controller_interrupts = 0
        self._install_main = False
        self._reset_namespace()

    # ---- startup

    def _connect(self):
        ip, port = self.info['ip'], self.info['port']
        try:
            return connect(ip, port)
        except OSError as e:
            raise Fatal('cannot connect to the controller at %s:%s: %s' % (ip, port, e))

    def register(self, resume=False, timeout=REGISTRATION_TIMEOUT_SECONDS):
        """Registers on a new main connection and opens the heart. `resume`: registering again
        after losing the controller, asking for the same id; the namespace is kept."""
        chan = Channel(self._connect(), self.signer, self.session, self.max_message_bytes)
        heart = None
        try:
            if self.direct is None:
                self.direct = self._listen(chan.sock)
            content = {
                'uuid': self.uuid, 'kernel': KERNEL,
                'language_version': '%d.%d.%d' % tuple(sys.version_info[:3]),
                'host': socket.gethostname(), 'pid': os.getpid(),
            }
            if resume:
                content['requested_id'] = self.id
                content['resume'] = True
            elif self.requested_id is not None:
                content['requested_id'] = self.requested_id
            if self.supervised:
                content['supervised'] = True
            if sys.executable:
                content['executable'] = sys.executable
            if self.direct is not None:
                content['direct'] = self.direct.address
            chan.send('registration_request', content)
            chan.sock.settimeout(timeout)
            try:
                while True:
                    msg = chan.recv()
                    if msg.msg_type == 'registration_reply':
                        break
                    log('ignoring %s before registration' % msg.msg_type)
            except socket.timeout:
                raise Fatal('no registration_reply from the controller within %d s' % timeout)
            except (EOFError, OSError, FrameError) as e:
                raise Fatal('the controller closed the connection before registering this engine (%s)' % (e or 'closed'))
            chan.sock.settimeout(None)
            c = msg.content
            if c.get('status') != 'ok':
                raise Refused('registration refused: %s' % (c.get('evalue') or c.get('ename') or c))
            self.id = c['id']
            hb = c.get('heartbeat_ms')
            if isinstance(hb, (int, float)) and hb > 0:
                self.heartbeat_ms = hb
            self._reconnect_ms = self.reconnect_ms if self.reconnect_ms is not None else _positive(c.get('reconnect_ms'))
            mmb = _positive(c.get('max_message_bytes'))
            if mmb:
                self.max_message_bytes = int(mmb)
                chan.max_message_bytes = chan.reader.max_message_bytes = int(mmb)
            self.max_output_bytes = int(_positive(c.get('max_output_bytes')))
            if self.output is not None:
                self.output.limit = self.max_output_bytes
                self.output.max_message_bytes = self.max_message_bytes
            heart = Channel(self._connect(), self.signer, self.session)
            heart.send('heartbeat', self._beat())
        except BaseException:
            chan.close()
            if heart is not None:
                heart.close()
            raise
        self.chan, self.heart = chan, heart

    def _listen(self, main_sock):
        """The direct listener, on the local address of the main connection (the way clients reach
        this host); None when that fails: clients then go through the controller."""
        try:
            return DirectListener(self, main_sock.getsockname()[0], main_sock.family)
        except OSError as e:
            log('no direct connections: cannot listen: %s' % e)
            return None

    def run(self):
        """Registers, then serves requests until shutdown; returns the exit code."""
        self.register()
        self._install_main = True
        sys.modules['__main__'] = self.user_module
        self._install_sigint()
        real_out, real_err = sys.stdout, sys.stderr
        self.output = Output(self._send_to, real_out, real_err, self.max_output_bytes, self.max_message_bytes)
        sys.stdout = _OutStream(self.output, 'stdout', real_out)
        sys.stderr = _OutStream(self.output, 'stderr', real_err)
        threading.Thread(target=self.output.run, name='multiengine-output', daemon=True).start()
        self._start_threads(self._gen)
        if self.direct is not None:
            self.direct.start()
        return self.serve()

    def _start_threads(self, gen):
        """The heart and the reader of connection generation `gen`."""
        heart, chan = self.heart, self.chan
        threading.Thread(target=self._heart_loop, args=(gen, heart), name='multiengine-heart', daemon=True).start()
        threading.Thread(target=self._read_loop, args=(gen, chan), name='multiengine-reader', daemon=True).start()

    # ---- threads

    def _heart_loop(self, gen, heart):
        block_sigint()
        import select
        period = max(self.heartbeat_ms, 10) / 1000.0
        nxt = time.monotonic() + period
        sock = heart.sock
        try:
            while True:
                wait = nxt - time.monotonic()
                if wait <= 0:
                    heart.send('heartbeat', self._beat())
                    nxt += period
                    if nxt < time.monotonic():
                        nxt = time.monotonic() + period
                    continue
                ready = select.select([sock], [], [], wait)[0] if heart.reader.buffered() == 0 else [sock]
                if ready:
                    msg = heart.recv()
                    if msg.msg_type == 'interrupt_request':
                        self._interrupt_request(msg)
                    elif msg.msg_type == 'shutdown_request':
                        self.stop(0, 'shutdown_request')
                    else:
                        log('ignoring %s on the heart connection' % msg.msg_type)
        except (EOFError, OSError, FrameError, ValueError) as e:
            self._lost(gen, 'the controller closed the heart connection (%s)' % (e or 'closed'))

    def _beat(self):
        """heartbeat content; `running` names the request being handled, so the controller sees
        direct work whose user code keeps the main thread from reporting it."""
        beat = {'uuid': self.uuid, 'id': self.id}
        current = self.current
        if current is not None:
            beat['running'] = {'msg_id': current.msg_id, 'msg_type': current.msg_type}
        return beat

    def _read_loop(self, gen, chan):
        block_sigint()
        try:
            while True:
                msg = chan.recv()
                t = msg.msg_type
                if t in WORK_REQUESTS:
                    self.replays.seen(msg.msg_id)  # the same request replayed on a direct connection is dropped
                    self._enqueue(msg)
                elif t == 'abort_request':
                    ids = msg.content.get('msg_ids')
                    ids = None if ids is None else set(x for x in ids if isinstance(x, str))
                    self._answer_aborted(self.queue.take(lambda req: ids is None or req.msg_id in ids))
                elif t == 'shutdown_request':
                    self.stop(0, 'shutdown_request')
                    return
                elif t == 'interrupt_request':
                    self._interrupt_request(msg)
                else:
                    log('ignoring %s' % t)
        except (EOFError, OSError, FrameError, ValueError) as e:
            self._lost(gen, 'the controller closed the connection (%s)' % (e or 'closed'))

    def _enqueue(self, msg):
        """A work request joins the queue, unless an interrupt_request named it before it came."""
        if self._cancelled and msg.msg_id in self._cancelled:
            self._answer_aborted([msg])
            return
        self.queue.put(msg)
        if msg.origin is not None and self.queue.busy:  # else it starts now, and is reported then
            self.activity.changed()

    def _answer_aborted(self, reqs):
        now = iso_now()
        for req in reqs:
            self._reply(req, {'status': 'aborted'}, now, now)

    def direct_message(self, conn, msg):
        """A message on a direct connection (after its handshake): work requests for this engine
        alone join the queue; other types are ignored."""
        if msg.msg_type not in WORK_REQUESTS:
            log('ignoring %s on a direct connection' % msg.msg_type)
            return
        msg.origin = conn
        targets = msg.metadata.get('targets')
        if type(targets) is list and len(targets) == 1 and type(targets[0]) is int and targets[0] == self.id:
            self._enqueue(msg)
            return
        now = iso_now()
        self._reply(msg, {'status': 'error', 'ename': 'ProtocolError', 'traceback': [],
                          'evalue': 'a direct connection serves engine %s only: metadata.targets must be [%s], got %s'
                                    % (self.id, self.id, json.dumps(targets))}, now, now)

    def direct_closed(self, conn):
        """A direct connection closed: its requests still run (their answers go to the controller),
        and the controller hears of them now, so its result store holds them before they finish."""
        current = self.current
        reqs = [current] if current is not None and current.origin is conn else []
        reqs += self.queue.find(lambda req: req.origin is conn)
        if reqs:
            self.activity.orphaned([req.header for req in reqs])

    def _send_activity(self, content):
        if self.chan is not None:
            self._send_to(None, 'engine_activity', content, b'{}', {'engine_id': self.id})

    def _lost(self, gen, why):
        """A connection of generation `gen` broke: register again for a while (the controller may be
        restarted) when the controller advised reconnect_ms, else exit as before."""
        if self._stopping:
            return
        with self._conn_lock:
            if gen != self._gen or self._reconnecting:
                return
            self._reconnecting = self._reconnect_ms > 0
        if not self._reconnecting:
            self.stop(0, why)
            return
        self._reconnect(why)

    def _reconnect(self, why):
        limit = self._reconnect_ms
        log('%s; registering again as engine %s for up to %d ms' % (why, self.id, limit))
        for ch in (self.chan, self.heart):
            if ch is not None:
                ch.close()
        # never run: the controller that sent them is gone (direct requests' clients may still be there)
        dropped = self.queue.take(lambda req: req.origin is None)
        if dropped:
            log('dropped %d queued request%s' % (len(dropped), '' if len(dropped) == 1 else 's'))
        deadline = time.monotonic() + limit / 1000.0
        delay = 0.05
        while not self._stopping:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            time.sleep(min(delay, left))
            delay = min(delay * 2, 0.5)
            try:
                self.register(resume=True, timeout=min(RECONNECT_REPLY_SECONDS, max(0.5, deadline - time.monotonic())))
            except Refused as e:  # e.g. a controller shutting down: try again until the deadline
                log(str(e))
                continue
            except (Fatal, EOFError, OSError, FrameError, MessageTooLarge, ValueError):
                continue
            with self._conn_lock:
                self._gen += 1
                gen = self._gen
                self._reconnecting = False
            self._start_threads(gen)
            self.activity.reset()
            log('registered again as engine %s; namespace intact' % self.id)
            return
        self.stop(0, 'the controller did not come back within %d ms' % limit)

    def _interrupt_request(self, msg):
        """interrupt_request: without msg_ids, interrupt what runs; with them, only when the running
        request is one of them, and the named requests still queued are dropped (answered 'aborted')."""
        ids = msg.content.get('msg_ids')
        if not isinstance(ids, list):
            self.interrupt()
            return
        ids = set(x for x in ids if isinstance(x, str))
        current = self.current
        current = current.msg_id if current is not None else None
        if current in ids:
            self.interrupt()
        taken = self.queue.take(lambda req: req.msg_id in ids)
        self._answer_aborted(taken)
        seen = set(req.msg_id for req in taken)
        seen.add(current)
        for i in ids - seen:
            self._cancelled.append(i)

    def interrupt(self):
        """Raise KeyboardInterrupt in the running code (SIGINT to the main thread of this process)."""
        self._controller_interrupts += 1
        if hasattr(signal, 'pthread_kill'):
            signal.pthread_kill(self._main_ident, signal.SIGINT)
        elif hasattr(os, 'kill') and hasattr(signal, 'pthread_sigmask'):  # pragma: no cover
            os.kill(os.getpid(), signal.SIGINT)
        else:  # pragma: no cover - Windows
            import _thread
            _thread.interrupt_main()

    def _install_sigint(self):
        signal.signal(signal.SIGINT, self._on_sigint)

    def _on_sigint(self, signum, frame):
        """SIGINT interrupts user code only, never the engine's own work (a frame half sent would
        break the connection). An interrupt_request that finds no user code running is ignored;
        a SIGINT from outside (Ctrl-C in the terminal of an engine run by hand, kill -INT) while
        no user code runs makes the engine exit, as Ctrl-C does to any foreground program."""
        if self._controller_interrupts > 0:
            self._controller_interrupts -= 1
            if self.in_user_code:
                raise KeyboardInterrupt
            return
        if self.in_user_code:
            raise KeyboardInterrupt
        log('exiting: SIGINT while no user code runs')
        os._exit(130)

    def stop(self, code, why):
        """Exit promptly: cleanly between requests, at once when user code is running."""
        if self._stopping:
            return
        self._stopping = True
        if why != 'shutdown_request':
            log('exiting: %s' % why)
        if self.queue.stop_if_idle(code):
            time.sleep(2.0)  # the main thread exits well before this; if it hangs, force it
        os._exit(code)

    # ---- main loop

    def serve(self):
        q = self.queue
        while True:
            try:
                item = q.get()
            except KeyboardInterrupt:  # pragma: no cover - SIGINT is ignored between requests
                continue
            if isinstance(item, _Stop):
                return self._exit(item.code)
            try:
                self.handle(item)
            except KeyboardInterrupt:  # pragma: no cover
                pass
            finally:
                q.done()

    def _exit(self, code):
        try:
            self.output.flush()
            self.batch.flush()
        except Exception:
            pass
        try:
            import atexit
            atexit._run_exitfuncs()
        except Exception:
            pass
        try:
            sys.__stdout__.flush()
            sys.__stderr__.flush()
        except Exception:
            pass
        os._exit(code)

    def handle(self, msg):
        started = iso_now()
        t0 = time.monotonic()
        self.current = msg
        if msg.origin is not None:
            self.activity.started(msg, started)  # reported before the user code runs
        meta = {'engine_id': self.id}
        self.output.set_parent(msg.header_bytes, meta, msg.origin)
        t = msg.msg_type
        try:
            handler = getattr(self, 'do_' + t[:-len('_request')])
            content, buffers = handler(msg)
        except ReplyError as e:
            self.in_user_code = False
            content, buffers = {'status': 'error', 'ename': e.ename, 'evalue': e.evalue, 'traceback': e.traceback}, ()
        except BaseException as e:
            self.in_user_code = False
            content, buffers = self._error_content(e), ()
        self.output.flush()
        self.output.set_parent(None, None)
        if _getsignal(signal.SIGINT) != self._on_sigint:
            self._install_sigint()
        self.current = None
        more = bool(self.queue.items)  # requests wait: this reply goes out with theirs
        if more:
            self.batch.open()
        self._reply(msg, content, started, iso_now(), buffers, time.monotonic() - t0)
        if not more or self.batch.expired():
            self.batch.flush()

    def _send_to(self, origin, msg_type, content, parent, metadata, buffers=()):
        """Sends a request's stream or reply: on the direct connection it came on while that is
        open, else to the controller with metadata.orphan (it keeps it in its result store)."""
        if origin is not None:
            chan = origin.chan
            args = (msg_type, content, parent, metadata, buffers)
            try:
                if self.batch.post(chan, chan.encode(*args), args):
                    return
            except OSError:
                origin.close()
            metadata = dict(metadata, orphan=True)
        self.batch.post(self.chan, self.chan.encode(msg_type, content, parent, metadata, buffers))

    def _release(self, chan):
        """Writes what a channel held for a batch. What a direct connection could not take goes
        to the controller instead (as _send_to does)."""
        unsent = chan.release()
        if not unsent or unsent[0][1] is None:  # the main channel's own messages have no args
            return
        chan.close()
        for _, (msg_type, content, parent, metadata, buffers) in unsent:
            try:
                self.chan.send(msg_type, content, parent, dict(metadata, orphan=True), buffers)
            except (OSError, MessageTooLarge) as e:
                log('cannot send %s: %s' % (msg_type, e))

    def _reply(self, msg, content, started, completed, buffers=(), ran=0.0):
        """Answers a request (that ran for `ran` seconds) where it came from."""
        if msg.origin is not None:
            self.activity.finished(msg.msg_id, ran)
        self._send_reply(msg, content, started, completed, buffers)

    def _send_reply(self, msg, content, started, completed, buffers):
        meta = {'engine_id': self.id, 'started': started, 'completed': completed}
        rtype = msg.msg_type[:-len('_request')] + '_reply'
        send = self._send_to
        try:
            send(msg.origin, rtype, content, msg.header_bytes, meta, buffers)
        except (TypeError, ValueError) as e:  # content not JSON: an engine bug; still answer
            log('cannot send %s: %r' % (rtype, e))
            send(msg.origin, rtype, {'status': 'error', 'ename': 'EngineError', 'evalue': 'reply not encodable: %s' % e,
                                     'traceback': []}, msg.header_bytes, meta)
        except MessageTooLarge as e:
            log('cannot send %s: %s' % (rtype, e))
            try:
                send(msg.origin, rtype, {'status': 'error', 'ename': 'MessageTooLargeError',
                                         'evalue': 'the reply is %s, more than the maximum message size of %s; '
                                                   'return or pull it in smaller pieces' % (_fmt_bytes(e.size), _fmt_bytes(e.limit)),
                                         'traceback': []}, msg.header_bytes, meta)
            except OSError:
                pass
        except OSError as e:
            log('cannot send %s: %s' % (rtype, e))

    # ---- errors

    def _is_engine_file(self, filename):
        if filename.startswith(ENGINE_DIR):
            return True
        aio = sys.modules.get('asyncio') if self._loop is not None else None
        return aio is not None and filename.startswith(os.path.dirname(aio.__file__) + os.sep)

    def _error_content(self, e):
        """Error reply content for an exception from user code: the traceback starts at the user's
        code (engine frames before it are left out, and so are engine frames after it, such as the
        SIGINT handler that raised KeyboardInterrupt)."""
        import traceback
        tb = e.__traceback__
        while tb is not None and self._is_engine_file(tb.tb_frame.f_code.co_filename):
            tb = tb.tb_next
        try:
            te = traceback.TracebackException(type(e), e, tb)
            while te.stack and self._is_engine_file(te.stack[-1].filename):
                te.stack.pop()
            lines = ''.join(te.format()).rstrip('\n').split('\n')
        except Exception:
            lines = []
        try:
            evalue = str(e)
        except Exception:
            evalue = '<unprintable %s>' % type(e).__name__
        return {'status': 'error', 'ename': type(e).__name__, 'evalue': evalue, 'traceback': lines}

    # ---- namespace

    def _reset_namespace(self):
        mod = types.ModuleType('__main__')
        mod.__dict__['__builtins__'] = builtins
        self.user_module = mod
        self.ns = mod.__dict__
        if self._install_main:
            sys.modules['__main__'] = mod  # pickle and `import __main__` see the user namespace

    def _run_code(self, code):
        """Runs a code object in the namespace; top-level await runs on the engine's event loop."""
        r = eval(code, self.ns)
        if code.co_flags & _CO_COROUTINE:
            if self._loop is None:
                import asyncio
                self._loop = asyncio.new_event_loop()
                asyncio.set_event_loop(self._loop)
            r = self._loop.run_until_complete(r)
        return r

    def _user(self, fn, *args):
        self.in_user_code = True
        try:
            return fn(*args)
        finally:
            self.in_user_code = False

    def _register_source(self, filename, src):
        import linecache
        linecache.cache[filename] = (len(src), None, src.splitlines(True), filename)

    # ---- requests

    def do_execute(self, msg):
        import ast
        self.execution_count += 1
        n = self.execution_count
        code = msg.content.get('code', '')
        if not isinstance(code, str):
            raise ReplyError('TypeError', 'execute_request code must be a string')
        filename = '<execute-%d>' % n
        self._register_source(filename, code)
        flags = getattr(ast, 'PyCF_ALLOW_TOP_LEVEL_AWAIT', 0) if 'await' in code or 'async' in code else 0
        tree = ast.parse(code, filename, 'exec')
        last = None
        if tree.body and isinstance(tree.body[-1], ast.Expr) and not _ends_with_semicolon(code, tree.body[-1]):
            last = tree.body.pop()
        body = compile(tree, filename, 'exec', flags, True)
        expr = compile(ast.Expression(last.value), filename, 'eval', flags, True) if last is not None else None
        value = self._user(self._execute, body, expr)
        content = {'status': 'ok', 'execution_count': n}
        if value is not None and not msg.content.get('silent'):
            content['result'] = self._user(repr, value)
        return content, ()

    def _execute(self, body, expr):
        self._run_code(body)
        return self._run_code(expr) if expr is not None else None

    def do_apply(self, msg):
        c = msg.content
        args = c.get('args', [])
        if not isinstance(args, list):
            raise ReplyError('TypeError', 'apply_request args must be an array')
        try:
            args = [decode_value(a, msg.buffers) for a in args]
        except Exception as e:
            raise ReplyError('SerializationError', 'cannot deserialize the arguments: %s' % e)
        req = c.get('require') or []
        if isinstance(req, str):
            req = [req]
        for name in req:
            self._require(name)
        src = c.get('fn', '')
        if not isinstance(src, str):
            raise ReplyError('TypeError', 'apply_request fn must be source text')
        result = None
        if src.strip():
            compiled = self._compile_function(src)
            result = self._user(self._apply, compiled[0], compiled[1:] if compiled[0] == 'ns' else compiled[1], args)
        enc = Encoder()
        try:
            tree = enc.encode(result, 'the result')
        except SerializationError as e:
            raise ReplyError('SerializationError', str(e))
        return {'status': 'ok', 'result': tree}, enc.buffers

    def _apply(self, kind, code, args):
        if kind == 'expr':
            fn = eval(code, self.ns)
        elif kind == 'ns':
            exec(code[0], self.ns)
            fn = eval(code[1], self.ns)
        else:
            scope = {}
            exec(code, self.ns, scope)
            fn = scope['__multiengine_fn__']()
        r = fn(*args)
        if type(r) is types.CoroutineType:
            if self._loop is None:
                import asyncio
                self._loop = asyncio.new_event_loop()
                asyncio.set_event_loop(self._loop)
            r = self._loop.run_until_complete(r)
        return r

    def _require(self, name):
        if not isinstance(name, str) or not name:
            raise ReplyError('UnmetDependencyError', 'require names a module by a non-empty string, got %r' % (name,))
        try:
            top = self._user(__import__, name)
        except KeyboardInterrupt:
            raise
        except BaseException as e:
            raise ReplyError('UnmetDependencyError', 'cannot import %s: %s: %s' % (name, type(e).__name__, e))
        self.ns[name.split('.')[0]] = top

    def _compile_function(self, src):
        """('expr', code) for an expression such as a lambda, ('block', code) for a def block. A def
        block is wrapped in a factory function, so the function's own name is a closure (recursion
        works) and is not bound in the namespace; its free names resolve in the namespace."""
        hit = self._fn_cache.get(src)
        if hit is not None:
            return hit
        import ast
        self._fn_counter += 1
        filename = '<apply-%d>' % self._fn_counter
        self._register_source(filename, src)
        try:
            result = ('expr', compile(ast.parse(src.strip(), filename, 'eval'), filename, 'eval', 0, True))
        except SyntaxError:
            mod = ast.parse(src, filename, 'exec')  # a real syntax error is reported from here
            if not mod.body:
                raise ReplyError('TypeError', 'fn is empty')
            last = mod.body[-1]
            if isinstance(last, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                ret = ast.Return(value=ast.Name(id=last.name, ctx=ast.Load()))
            elif isinstance(last, ast.Expr):
                mod.body.pop()
                ret = ast.Return(value=last.value)
            else:
                raise ReplyError('TypeError', 'fn must be a Python expression that gives a callable (such as a '
                                              'lambda) or a block of statements that ends with a def')
            ast.copy_location(ret, last)
            factory = ast.parse('def __multiengine_fn__():\n    pass\n', filename, 'exec')
            factory.body[0].body = mod.body + [ret]
            ast.fix_missing_locations(factory)
            try:
                result = ('block', compile(factory, filename, 'exec', 0, True))
            except SyntaxError:
                # e.g. `from m import *` is not allowed inside a function: run the block in the namespace itself
                result = ('ns', compile(mod, filename, 'exec', 0, True),
                          compile(ast.Expression(ret.value), filename, 'eval', 0, True))
        if len(self._fn_cache) >= 256:
            import linecache
            self._fn_cache.clear()
            for name in [k for k in linecache.cache if isinstance(k, str) and k.startswith('<apply-')]:
                del linecache.cache[name]
            self._register_source(filename, src)
        self._fn_cache[src] = result
        return result

    def do_push(self, msg):
        ns = msg.content.get('ns')
        if not isinstance(ns, dict):
            raise ReplyError('TypeError', 'push_request ns must be an object')
        values = {}
        for name, tree in ns.items():
            try:
                values[name] = decode_value(tree, msg.buffers)
            except Exception as e:
                raise ReplyError('SerializationError', 'cannot deserialize %s: %s' % (name, e))
        self.ns.update(values)
        return {'status': 'ok'}, ()

    def do_pull(self, msg):
        names = msg.content.get('names')
        if isinstance(names, str):
            names = [names]
        if not isinstance(names, list):
            raise ReplyError('TypeError', 'pull_request names must be an array of strings')
        enc = Encoder()
        values = []
        for name in names:
            if not isinstance(name, str) or name not in self.ns:
                raise ReplyError('NameError', 'name %r is not defined' % (name,))
            try:
                values.append(enc.encode(self.ns[name], name))
            except SerializationError as e:
                raise ReplyError('SerializationError', str(e))
        return {'status': 'ok', 'values': values}, enc.buffers

    def do_keys(self, msg):
        b = builtins.__dict__
        keys = sorted(k for k, v in self.ns.items()
                      if not (k.startswith('__') and k.endswith('__')) and not (k in b and b[k] is v))
        return {'status': 'ok', 'keys': keys}, ()

    def do_clear(self, msg):
        self._reset_namespace()
        return {'status': 'ok'}, ()


# --------------------------------------------------------------------------------------
# Command line

class ConnectionFileError(Exception):
    pass


def read_connection_file(path, allow_insecure=False):
    """Reads and checks an engine connection file (as connectionFile.ts readConnectionFile does)."""
    try:
        with open(path, 'rb') as f:
            text = f.read().decode('utf-8')
    except FileNotFoundError:
        raise ConnectionFileError('no connection file at %s (is a cluster running? start one with: multiengine start)' % path)
    except OSError as e:
        raise ConnectionFileError('cannot read connection file %s: %s' % (path, e))
    if not allow_insecure and os.name == 'posix':
        mode = os.stat(path).st_mode
        if mode & 0o077:
            raise ConnectionFileError('connection file %s can be read by other users (mode %o); run chmod 600 on it, '
                                      'or pass --allow-insecure' % (path, mode & 0o777))
    try:
        raw = json.loads(text)
    except ValueError as e:
        raise ConnectionFileError('connection file %s is not valid JSON: %s' % (path, e))
    if not isinstance(raw, dict):
        raise ConnectionFileError('connection file %s is invalid: not a JSON object' % path)
    problems = []
    if raw.get('transport') != 'tcp':
        problems.append('transport must be "tcp"')
    if not isinstance(raw.get('ip'), str) or not raw.get('ip'):
        problems.append('ip must be a string')
    port = raw.get('port')
    if type(port) is not int or not 0 < port <= 65535:
        problems.append('port must be an integer from 1 to 65535')
    if not isinstance(raw.get('key'), str):
        problems.append('key must be a string')
    if raw.get('signature_scheme') != 'hmac-sha256':
        problems.append('signature_scheme must be "hmac-sha256"')
    if problems:
        raise ConnectionFileError('connection file %s is invalid: %s' % (path, '; '.join(problems)))
    hb = raw.get('heartbeat_ms')
    return {
        'transport': 'tcp', 'ip': raw['ip'], 'port': port, 'key': raw['key'], 'signature_scheme': 'hmac-sha256',
        'controller_pid': raw.get('controller_pid') if type(raw.get('controller_pid')) is int else 0,
        'profile': raw.get('profile') if isinstance(raw.get('profile'), str) else 'default',
        'heartbeat_ms': hb if isinstance(hb, (int, float)) and not isinstance(hb, bool) and hb > 0 else 1000,
    }


USAGE = '''usage: multiengine_engine.py --file ENGINE_JSON [--id N] [--allow-insecure] [--reconnect-ms MS]

Runs one multiengine python engine: connects to the controller named in ENGINE_JSON
(the controller's engine connection file), registers and serves requests until the
controller sends shutdown_request or goes away.

  --file PATH        engine connection file (required)
  --id N             ask the controller for engine id N
  --allow-insecure   accept a connection file other users can read
  --reconnect-ms MS  when the controller connection drops, register again (same id,
                     same namespace) for up to MS ms before exiting; 0 exits at once
                     (default: what the controller advises)
'''


def parse_args(argv):
    opts = {'file': None, 'id': None, 'allow_insecure': False}
    i = 0
    while i < len(argv):
        a = argv[i]
        name, eq, value = a.partition('=')
        if a in ('-h', '--help'):
            sys.stdout.write(USAGE)
            raise SystemExit(0)
        if name in ('--file', '-f', '--id', '--reconnect-ms'):
            if not eq:
                i += 1
                if i >= len(argv):
                    raise SystemExit('%s needs a value\n\n%s' % (name, USAGE))
                value = argv[i]
            if name in ('--id', '--reconnect-ms'):
                key = 'id' if name == '--id' else 'reconnect_ms'
                try:
                    opts[key] = int(value)
                except ValueError:
                    raise SystemExit('%s must be an integer, got %r' % (name, value))
                if opts[key] < 0:
                    raise SystemExit('%s must not be negative' % name)
            else:
                opts['file'] = value
        elif a == '--allow-insecure':
            opts['allow_insecure'] = True
        else:
            raise SystemExit('unknown argument %r\n\n%s' % (a, USAGE))
        i += 1
    if not opts['file']:
        raise SystemExit('--file is required\n\n%s' % USAGE)
    return opts


def main(argv=None):
    opts = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        info = read_connection_file(opts['file'], opts['allow_insecure'])
    except ConnectionFileError as e:
        log(str(e))
        return 1
    launcher_dir = os.path.dirname(ENGINE_DIR.rstrip(os.sep))
    if sys.path and sys.path[0] and os.path.abspath(sys.path[0]) == launcher_dir:
        sys.path[0] = ''  # user imports see the working directory (as in IPython), not the engine's folder
    try:
        return Engine(info, opts['id'], opts.get('reconnect_ms')).run()
    except Fatal as e:
        log(str(e))
        return 1
