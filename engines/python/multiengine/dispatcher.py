"""The client's requests in flight: where each goes (straight to its engine, or through the
controller), the replies and output that come back, and the ordering rules of docs/protocol.md
section 13. There is no I/O thread: whichever thread waits for a result reads the sockets (a
round trip then costs one wake-up, not two), under one lock, so several threads may wait."""

import os
import select
import signal
import threading
import time

from multiengine_python.wire import BadMessage, FrameError

from .errors import ConnectionError, ControllerError
from .controller_link import Reconnector, handshake
from .links import Flusher, check_size, open_link

#: A waiter whose last direct reply came within this many seconds polls before sleeping in select
#: (docs/protocol.md section 13, Polling). Off unless MULTIENGINE_SPIN_US sets the window: Python engines
#: do not poll back, and on a busy machine a spinning client takes the core its engine needs.
SPIN_SECONDS = int(os.environ.get('MULTIENGINE_SPIN_US', '0') or 0) / 1e6
#: Frames at least this big may take several writes (Ctrl-C is held off until they are whole).
BIG_FRAME_BYTES = 128 * 1024
#: A request after this many seconds without looking at the controller's connection looks first.
IDLE_CHECK_SECONDS = 0.1
#: While several threads wait, each reads for at most this long before letting the others look.
SHARED_SLICE_SECONDS = 0.02


class Work(object):
    """One request: its targets (None for a load-balanced task or a controller request), the
    replies by engine id (content, buffers, metadata) and the output by engine id."""

    __slots__ = ('msg_id', 'msg_type', 'method', 'header', 'targets', 'replies', 'order', 'stdout', 'stderr',
                 'route', 'remaining', 'on_output', 'sent_at')

    def __init__(self, msg_id, msg_type, method, header, targets):
        self.msg_id = msg_id
        self.msg_type = msg_type
        self.method = method
        self.header = header
        self.targets = targets
        self.replies = {}
        #: Engine ids in the order their replies came (load-balanced tasks learn theirs here).
        self.order = []
        self.stdout = {}
        self.stderr = {}
        #: The Link it went on; None while held back in the client.
        self.route = None
        self.remaining = 1 if targets is None else len(targets)
        self.on_output = None
        self.sent_at = time.time()

    @property
    def done(self):
        return self.remaining <= 0


def _failure(ename, evalue):
    return {'status': 'error', 'ename': ename, 'evalue': evalue, 'traceback': []}


class _SigintGuard(object):
    """Ctrl-C (KeyboardInterrupt) waits until the frames being read or written are whole: a frame
    left half done puts the connection out of step. Python runs the SIGINT handler in the main
    thread whichever thread the signal hit, so a handler that wraps the one in place (installed
    once, from the main thread) takes note while the main thread is in a critical section and
    runs the wrapped one when it leaves. Entering costs an attribute write: it is on every read."""

    def __init__(self):
        self.depth = 0
        self.hit = False
        self.prev = None

    def install(self):
        if self.prev is not None or threading.current_thread() is not threading.main_thread():
            return
        prev = signal.getsignal(signal.SIGINT)
        if callable(prev) and not isinstance(getattr(prev, '__self__', None), _SigintGuard):
            self.prev = prev
            signal.signal(signal.SIGINT, self._handler)

    def _handler(self, signum, frame):
        if self.depth:
            self.hit = True
            return None
        return self.prev(signum, frame)

    def __enter__(self):
        if threading.get_ident() == _MAIN:
            self.depth += 1

    def __exit__(self, *exc):
        if threading.get_ident() == _MAIN:
            self.depth -= 1
            if not self.depth and self.hit:
                self.hit = False
                self.prev(signal.SIGINT, None)


_MAIN = threading.main_thread().ident
_guard = _SigintGuard()


class Dispatcher(object):
    def __init__(self, info, maker, signer, subscribe='registration', direct=True, timeout=10.0, file=None,
                 allow_insecure=False):
        self.maker = maker
        self.signer = signer
        self.io = threading.RLock()
        self.pending = {}
        #: msg_ids of the work requests sent (to engines, or load-balanced), oldest first (Client.history).
        self.history = []
        self.engines = {}
        self.closed = False
        self.direct = direct and subscribe != 'none'
        self._links = {}
        #: Direct links whose handshake is not answered yet, by engine id.
        self._connecting = {}
        self._no_direct = {}
        self._ctrl_out = {}
        self._direct_out = {}
        self._held = []
        #: How many held requests name each engine.
        self._held_engines = {}
        self._waiters = 0
        self._last_direct = 0.0
        self.dropped = 0
        #: Works of result_request answers by msg_id, for Client.get_result.
        self.fetched = {}
        self._flusher = Flusher(lambda: list(self._links.values()))
        _guard.install()
        self._subscribe, self._timeout = subscribe, timeout
        self.ctrl, c = handshake(info, maker, signer, subscribe, timeout)
        #: (why, deadline) while the controller is lost and may come back (section 12); None otherwise.
        self._lost = None
        self._closed_why = None
        self._ctrl_seen = time.monotonic()
        self.reconnector = Reconnector(file, info['key'], allow_insecure, c.get('reconnect_ms') or 0)
        self._connected(c)

    def _connected(self, c):
        """The connect_reply's settings and engine list (at first and after reconnecting)."""
        self.max_message_bytes = int(c.get('max_message_bytes') or (1 << 30))
        self.ctrl.reader.max_message_bytes = self.max_message_bytes
        self.engines = {e['id']: e for e in c.get('engines', [])}

    # ---- sending

    def submit(self, msg_type, content, buffers=(), targets=None, method=None, metadata=None, on_output=None):
        """Sends a work request to `targets` (a list of ids), or load-balanced when `metadata` has
        'balanced'; returns its Work."""
        meta = dict(metadata) if metadata else {}
        if targets is not None:
            meta['targets'] = targets
        msg_id = self.maker.next_id()
        header, hb = self.maker.header(msg_type, msg_id)
        parts = self.maker.parts(hb, content, meta, buffers)
        size = check_size(parts, self.max_message_bytes, method or msg_type)
        work = Work(msg_id, msg_type, method or msg_type.replace('_request', ''), header, targets)
        work.on_output = on_output
        direct = not meta.get('store')  # the controller keeps what it sees: stored requests go through it
        with self.io:
            if time.monotonic() - self._ctrl_seen > IDLE_CHECK_SECONDS:
                # After a quiet while, a controller that went away is noticed before sending, not after.
                self._ctrl_seen = time.monotonic()
                self.pump(0)
            self._check_open()
            self.pending[msg_id] = work
            if size < BIG_FRAME_BYTES:  # one write: Ctrl-C comes before or after it
                self._route(work, parts, direct)
            else:
                with _guard:  # a frame half written would put the connection out of step
                    self._route(work, parts, direct)
            if targets is not None or 'balanced' in meta:  # work, not a request to the controller
                self.history.append(msg_id)
        return work

    def _check_open(self):
        """Raises when the client is closed; connects again first when the controller was lost
        and may come back (as the TypeScript client does, but on the next call)."""
        if self.closed:
            raise ConnectionError(self._closed_why or 'this client is closed; make a new Client()')
        if self._lost is not None:
            try:
                self.ctrl, c = self.reconnector.reconnect(self._lost[1], self.maker, self.signer, self._subscribe, self._timeout)
            except ConnectionError as e:
                self._lost = None
                self.closed = True
                self._closed_why = str(e)
                raise
            self._lost = None
            self._ctrl_out = {}
            self._connected(c)

    @property
    def state(self):
        """'connected', 'reconnecting' (the controller was lost and may come back) or 'closed'."""
        return 'closed' if self.closed else 'reconnecting' if self._lost is not None else 'connected'

    def ensure_open(self):
        """_check_open for callers outside submit (Client.ids after the controller was lost)."""
        if self._lost is not None:
            with self.io:
                self._check_open()

    def _route(self, work, parts, direct=True):
        t = work.targets
        if t is None:
            self._send_ctrl(work, parts)
            return
        if direct and len(t) == 1 and self._ctrl_out.get(t[0], 0) == 0 and not self._held_names(t):
            link = self._direct_link(t[0])
            if link is not None:
                try:
                    if self._direct_out.get(t[0]):  # the engine is busy with earlier ones: gather a few
                        if link.keep(parts):
                            link.flush()
                        else:
                            self._flusher.poke()
                    else:
                        link.send(parts)
                except OSError as e:
                    self._link_lost(link, str(e))
                    self._send_ctrl(work, parts)
                    return
                work.route = link
                self._direct_out[t[0]] = self._direct_out.get(t[0], 0) + 1
                return
        if self._held or any(self._direct_out.get(e) for e in t):
            self._held.append((work, parts))
            for e in t:
                self._held_engines[e] = self._held_engines.get(e, 0) + 1
            return
        self._send_ctrl(work, parts)

    def _held_names(self, ids):
        return self._held and any(self._held_engines.get(e) for e in ids)

    def _send_ctrl(self, work, parts):
        try:
            self.ctrl.send(parts)
        except OSError as e:
            self._controller_lost(str(e))
            raise ConnectionError('lost the connection to the controller: %s' % e)
        work.route = self.ctrl
        for e in work.targets or ():
            self._ctrl_out[e] = self._ctrl_out.get(e, 0) + 1

    def _flush_held(self):
        blocked = set()
        keep = []
        for work, parts in self._held:
            if blocked.intersection(work.targets) or any(self._direct_out.get(e) for e in work.targets):
                blocked.update(work.targets)
                keep.append((work, parts))
                continue
            for e in work.targets:
                self._held_engines[e] -= 1
            if work.msg_id in self.pending:
                self._send_ctrl(work, parts)
        self._held = keep

    def _direct_link(self, eid):
        """The open direct link to engine `eid`, or None. The first call opens one and sends its
        handshake; the link serves requests once a waiter has read the engine's answer (until
        then they go through the controller), so nobody waits for a busy engine to answer it."""
        link = self._links.get(eid)
        if link is not None or not self.direct or eid in self._connecting:
            return link
        info = self.engines.get(eid)
        d = info and info.get('direct')
        if not d or info.get('state') == 'dead' or self._no_direct.get(eid) == info.get('uuid'):
            return None
        link = None
        try:
            link = open_link(d['ip'], d['port'], self.max_message_bytes, 5.0, eid, info['uuid'])
            link.handshake = self.maker.next_id()
            _, hb = self.maker.header('engine_connect_request', link.handshake)
            link.send(self.maker.parts(hb, {'engine_uuid': info['uuid']}))
        except OSError:
            if link is not None:
                link.close()
            self._no_direct[eid] = info.get('uuid')
            return None
        self._connecting[eid] = link
        return None

    def _on_handshake(self, msg, link):
        eid = link.engine_id
        del self._connecting[eid]
        if msg.parent_header.get('msg_id') == link.handshake and msg.content.get('status') == 'ok':
            link.handshake = None
            self._links[eid] = link
        else:  # not that engine (it was restarted): the controller serves it
            link.close()
            self._no_direct[eid] = link.uuid

    # ---- controller requests

    def request(self, msg_type, content, metadata=None, timeout=10.0):
        """A controller request's ok reply content; ControllerError when it answers an error."""
        work = self.submit(msg_type, content, metadata=metadata)
        if not self.wait_for(lambda: work.done, timeout):
            self.pending.pop(work.msg_id, None)
            raise ControllerError(msg_type, 'TimeoutError', 'no answer from the controller within %g s' % timeout)
        content, _, _ = work.replies[work.order[0]]
        if content.get('status') != 'ok':
            raise ControllerError(msg_type, content.get('ename', 'Error'), content.get('evalue', ''))
        return content

    def post(self, msg_type, content, metadata=None):
        """Sends a controller request whose reply nobody waits for (abort, interrupt)."""
        work = self.submit(msg_type, content, metadata=metadata)
        work.method = None  # its reply is dropped when it comes
        return work

    def drop_held(self, msg_ids):
        """Held-back requests among msg_ids never leave the client: answered aborted."""
        with self.io:
            ids = set(msg_ids)
            gone = [w for w, _ in self._held if w.msg_id in ids]
            self._held = [(w, p) for w, p in self._held if w.msg_id not in ids]
            for w in gone:
                for e in w.targets:
                    self._held_engines[e] -= 1
                    self._deliver(w, e, {'status': 'aborted'}, (), {'engine_id': e})

    # ---- receiving

    def wait_for(self, predicate, timeout=None):
        """Reads replies until predicate() holds; False when `timeout` seconds passed first."""
        if predicate():
            return True
        deadline = None if timeout is None or timeout < 0 else time.monotonic() + timeout
        spin_until = time.monotonic() + SPIN_SECONDS if SPIN_SECONDS and time.monotonic() - self._last_direct < SPIN_SECONDS else 0
        self._waiters += 1
        looked = False
        try:
            while True:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    if looked:
                        return predicate()
                    left = 0.0  # a timeout of 0 still reads what has arrived
                looked = True
                if not self.io.acquire(timeout=SHARED_SLICE_SECONDS if left is None else min(left, SHARED_SLICE_SECONDS)):
                    if predicate():
                        return True
                    continue
                try:
                    if predicate():
                        return True
                    if (self.closed or self._lost is not None) and not self.pending:
                        return predicate()
                    wait = left
                    if self._waiters > 1:
                        wait = SHARED_SLICE_SECONDS if wait is None else min(wait, SHARED_SLICE_SECONDS)
                    if spin_until and time.monotonic() < spin_until:
                        wait = 0
                    elif self.closed or self._lost is not None:
                        wait = SHARED_SLICE_SECONDS if wait is None else min(wait, SHARED_SLICE_SECONDS)
                    self.pump(wait)
                finally:
                    self.io.release()
        finally:
            self._waiters -= 1

    def pump(self, timeout):
        """Handles what arrives within `timeout` seconds (0: only what is there). Holds self.io."""
        links = [l for l in self._links.values() if not l.closed]
        for link in links:
            if link.outbox:  # a waiter sends what it waits for first
                try:
                    with _guard:
                        link.flush()
                except OSError as e:
                    self._link_lost(link, str(e))
                    return
        links.extend(self._connecting.values())
        if not self.ctrl.closed:
            links.append(self.ctrl)
        ready = [l for l in links if l.has_frame()]
        if not ready:
            if not links:
                return
            try:
                r, _, _ = select.select([l.sock for l in links], [], [], timeout)
            except (OSError, ValueError):
                r = [l.sock for l in links if l.closed]
            ready = [l for l in links if l.sock in r]
        if ready:
            with _guard:
                self._read(ready)

    def _read(self, ready):
        for link in ready:
            try:
                if link.handshake is not None:
                    self._on_handshake(link.recv(self.signer), link)
                    continue
                self._on_message(link.recv(self.signer), link)
                while link.has_frame():
                    self._on_message(link.recv(self.signer), link)
            except BadMessage:
                self.dropped += 1
            except (EOFError, OSError, FrameError) as e:
                if link is self.ctrl:
                    self._controller_lost(str(e) or 'connection closed')
                else:
                    self._link_lost(link, str(e) or 'connection closed')

    def _on_message(self, msg, link):
        t = msg.header['msg_type']
        if t == 'engine_event':
            return self._on_engine_event(msg.content)
        if t == 'result_reply':
            self._on_result_reply(msg)
        work = self.pending.get(msg.parent_header.get('msg_id'))
        if work is None:
            return
        eid = msg.metadata.get('engine_id')
        if t == 'stream':
            name, text = msg.content.get('name'), msg.content.get('text')
            if not isinstance(text, str) or name not in ('stdout', 'stderr'):
                self.dropped += 1
                return
            (work.stdout if name == 'stdout' else work.stderr).setdefault(eid, []).append(text)
            if work.on_output is not None:
                work.on_output(eid, name, text)
            return
        if t.endswith('_reply'):
            if link is not self.ctrl:
                self._last_direct = time.monotonic()
            self._deliver(work, eid if work.targets is not None or isinstance(eid, int) else -1, msg.content, msg.buffers, msg.metadata)

    def _deliver(self, work, eid, content, buffers, metadata):
        if work.targets is not None and (eid not in work.targets or eid in work.replies):
            return
        work.replies[eid] = (content, buffers, metadata)
        work.order.append(eid)
        work.remaining -= 1
        route = work.route
        if work.targets is not None and route is not None:
            counts = self._ctrl_out if route is self.ctrl else self._direct_out
            counts[eid] = counts.get(eid, 1) - 1
        if work.done:
            self.pending.pop(work.msg_id, None)
            if self._held:
                self._flush_held()

    def _on_result_reply(self, msg):
        c = msg.content
        if c.get('status') != 'ok' or c.get('msg_id') in self.pending:
            return
        ids = [e for e in c.get('engine_ids', []) if isinstance(e, int)]
        work = Work(c['msg_id'], c.get('msg_type', ''), c.get('msg_type', '').replace('_request', ''), {}, ids)
        self.pending[work.msg_id] = work
        self.fetched[work.msg_id] = work

    def _on_engine_event(self, c):
        info = c.get('engine')
        if not isinstance(info, dict) or not isinstance(info.get('id'), int):
            self.dropped += 1
            return
        eid = info['id']
        old = self.engines.get(eid)
        if c.get('event') == 'unregistered':
            self.engines.pop(eid, None)
        else:
            self.engines[eid] = info
        link = self._links.get(eid) or self._connecting.get(eid)
        dead = c.get('event') == 'unregistered' or info.get('state') == 'dead'
        if link is not None and (dead or (old is not None and old.get('uuid') != info.get('uuid'))):
            reason = info.get('reason') or 'it is gone'
            self._link_lost(link, None, 'engine %d is dead: %s' % (eid, reason))

    def _link_lost(self, link, why, evalue=None):
        link.close()
        eid = link.engine_id
        if self._connecting.get(eid) is link:
            del self._connecting[eid]
            self._no_direct[eid] = link.uuid
        if self._links.get(eid) is link:
            del self._links[eid]
        evalue = evalue or 'engine %d: its direct connection closed before the reply (%s)' % (eid, why)
        for work in [w for w in self.pending.values() if w.route is link]:
            self._deliver(work, eid, _failure('EngineError', evalue), (), {'engine_id': eid})

    def _controller_lost(self, why):
        self.ctrl.close()
        if self.reconnector.may_come_back():
            self._lost = (why, time.monotonic() + self.reconnector.reconnect_ms / 1000.0)

            def evalue(work):
                return ('lost the connection to the controller before the reply arrived (%s); it is not sent again '
                        '(it may have run). If the controller is still up, rc.get_result(%r) fetches its result once '
                        'the client has reconnected' % (why, work.msg_id))
        else:
            self.closed = True
            self._closed_why = 'this client lost its controller (%s); make a new Client()' % why

            def evalue(work):
                return 'lost the connection to the controller before the reply arrived; it is not sent again (it may have run): %s' % why
        self._held = []
        self._held_engines = {}
        for work in list(self.pending.values()):
            if work.route is self.ctrl or work.route is None:
                for e in ([-1] if work.targets is None else [e for e in work.targets if e not in work.replies]):
                    self._deliver(work, e, _failure('EngineError', evalue(work)), (), {'engine_id': e})

    def close(self):
        with self.io:
            self.closed = True
            for link in list(self._links.values()) + list(self._connecting.values()):
                link.close()
            self._links.clear()
            self._connecting.clear()
            self.ctrl.close()
