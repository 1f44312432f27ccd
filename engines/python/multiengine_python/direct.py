"""Direct connections from clients (docs/protocol.md section 13): the listener, the handshake,
replay protection and the engine_activity reports. The engine (engine.py) runs the requests."""

import socket
import threading
import time
from collections import deque

from .wire import BadMessage, Channel, FrameError, MessageTooLarge, block_sigint, listen, log

#: A connection that has not completed its handshake within this many seconds is closed.
HANDSHAKE_SECONDS = 10.0
#: The biggest first frame accepted: an engine_connect_request is tiny, and a stranger must not
#: make the engine allocate max_message_bytes for it.
HANDSHAKE_MAX_BYTES = 64 * 1024
#: How many recent msg_ids are remembered to drop replays.
REPLAY_TABLE_SIZE = 16384
#: engine_activity reports go out at most this often (seconds).
ACTIVITY_SECONDS = 0.02
#: A request that ran this long may have been named by a heartbeat (heartbeat.running).
SEEN_BY_BEAT_SECONDS = 0.005


class ReplayGuard(object):
    """The msg_ids seen lately, engine-wide: a signed message captured on one connection must not
    run again when replayed on another."""

    def __init__(self, size=REPLAY_TABLE_SIZE):
        self.ids = set()
        self.order = deque()
        self.size = size
        self.lock = threading.Lock()

    def seen(self, msg_id):
        """True when msg_id was seen before; else remembers it."""
        with self.lock:
            if msg_id in self.ids:
                return True
            self.ids.add(msg_id)
            self.order.append(msg_id)
            if len(self.order) > self.size:
                self.ids.discard(self.order.popleft())
            return False


class DirectConn(object):
    """One accepted direct connection; `ready` once its handshake is done."""

    __slots__ = ('chan', 'ready')

    def __init__(self, chan):
        self.chan = chan
        self.ready = False

    def close(self):
        self.chan.close()


class DirectListener(object):
    """Accepts direct connections for `engine` (its signer, session, id, uuid, max_message_bytes,
    replays, direct_message(conn, msg) and direct_closed(conn)), one reader thread each."""

    def __init__(self, engine, host, family):
        self.engine = engine
        self.server = listen(host, family)
        self.address = {'ip': host, 'port': self.server.getsockname()[1]}

    def start(self):
        threading.Thread(target=self._accept_loop, name='multiengine-direct', daemon=True).start()

    def _accept_loop(self):
        block_sigint()
        waiting = deque()  # (deadline, conn) without a handshake yet, in accept (= deadline) order
        while True:
            now = time.monotonic()
            while waiting and (waiting[0][1].ready or waiting[0][1].chan.closed or waiting[0][0] <= now):
                conn = waiting.popleft()[1]
                if not conn.ready:
                    conn.close()  # nothing valid within HANDSHAKE_SECONDS
            self.server.settimeout(waiting[0][0] - now if waiting else None)
            try:
                sock = self.server.accept()[0]
            except socket.timeout:
                continue
            except OSError as e:  # e.g. out of file descriptors: do not spin
                log('direct listener: %s' % e)
                time.sleep(0.1)
                continue
            sock.settimeout(None)  # not socket.getdefaulttimeout(), which user code may have set
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            e = self.engine
            conn = DirectConn(Channel(sock, e.signer, e.session, HANDSHAKE_MAX_BYTES))
            waiting.append((now + HANDSHAKE_SECONDS, conn))
            threading.Thread(target=self._serve, args=(conn,), name='multiengine-direct-conn', daemon=True).start()

    def _serve(self, conn):
        block_sigint()
        e = self.engine
        chan = conn.chan
        try:
            if not self._handshake(conn):
                return
            chan.max_message_bytes = chan.reader.max_message_bytes = e.max_message_bytes
            while True:
                msg = chan.recv()
                if e.replays.seen(msg.msg_id):
                    log('dropped a replayed message (msg_id %s) on a direct connection' % msg.msg_id)
                    continue
                e.direct_message(conn, msg)
        except (BadMessage, EOFError, OSError, FrameError, ValueError, MessageTooLarge) as err:
            if not conn.ready:
                log('closed a direct connection before its handshake: %s' % (err or type(err).__name__))
        finally:
            conn.close()
            if conn.ready:
                e.direct_closed(conn)

    def _handshake(self, conn):
        """The first message must be a valid engine_connect_request naming this engine; else the
        connection is closed (after an error reply when it names another engine)."""
        e = self.engine
        msg = conn.chan.recv_message()
        if msg.msg_type != 'engine_connect_request':
            log('closed a direct connection: its first message is %s, not engine_connect_request' % msg.msg_type)
            return False
        if e.replays.seen(msg.msg_id):
            log('closed a direct connection: its engine_connect_request is a replay (msg_id %s)' % msg.msg_id)
            return False
        want = msg.content.get('engine_uuid')
        if want != e.uuid:
            conn.chan.send('engine_connect_reply', {
                'status': 'error', 'ename': 'EngineError', 'traceback': [],
                'evalue': 'this is engine %s (uuid %s), not %s' % (e.id, e.uuid, want)}, msg.header_bytes)
            return False
        conn.ready = True
        conn.chan.send('engine_connect_reply', {'status': 'ok', 'id': e.id, 'uuid': e.uuid}, msg.header_bytes)
        return True


def _idle_state():
    return {'direct_running': None, 'direct_queued': 0, 'direct_done': 0}


def _busy(state):
    return state['direct_running'] is not None or state['direct_queued'] > 0


class ActivityReporter(object):
    """The state of direct requests for engine_activity: sent by `send(content)` when it changes,
    at most every ACTIVITY_SECONDS: at once after a quiet moment (so a request that starts then is
    reported before its user code runs), else from its own thread when the interval is up. Going
    idle and orphaned requests are reported at once."""

    def __init__(self, queued, send):
        self.queued = queued  # () -> direct requests waiting in the queue
        self.send = send
        self.running = None
        self.done = 0
        self.lock = threading.Lock()
        self.sent = _idle_state()  # what the controller knows
        self.sent_at = -ACTIVITY_SECONDS
        self.due = False
        self.wake = None

    def state(self):
        return {'direct_running': self.running, 'direct_queued': self.queued(), 'direct_done': self.done}

    def started(self, msg, started):
        self.running = {'msg_id': msg.msg_id, 'msg_type': msg.msg_type, 'started': started}
        self.changed()

    def finished(self, msg_id, ran=0.0):
        """A direct request is answered (ran for `ran` seconds, aborted or refused): call it before
        the reply goes out. When that leaves the engine idle and the controller may think it busy
        (from the last report, or from a beat that named the request), the report goes out at once,
        so a client that asks for status after its reply sees the engine idle."""
        with self.lock:
            self.done += 1
            if self.running is not None and self.running['msg_id'] == msg_id:
                self.running = None
            if (_busy(self.sent) or ran >= SEEN_BY_BEAT_SECONDS) and not _busy(self.state()):
                self._report()
                return
        self.changed()

    def orphaned(self, headers):
        """Names at once the requests whose direct connection closed: the controller opens their
        result-store entries, so a result_request made before they finish waits for them."""
        with self.lock:
            state = self.state()
            self._send(state, dict(state, orphaned=headers))

    def reset(self):
        """A new controller knows nothing of this engine's direct requests yet."""
        with self.lock:
            self.sent = _idle_state()
            self.sent_at = -ACTIVITY_SECONDS
        self.changed()

    def changed(self):
        with self.lock:
            if self.due:
                return
            if time.monotonic() - self.sent_at >= ACTIVITY_SECONDS:
                self._report()
                return
            self.due = True
            if self.wake is None:  # the thread starts with the first direct burst
                self.wake = threading.Event()
                threading.Thread(target=self._run, name='multiengine-activity', daemon=True).start()
            self.wake.set()

    def _report(self):
        """Sends the state when the controller does not have it yet (the lock is held)."""
        state = self.state()
        if state != self.sent:
            self._send(state, state)

    def _send(self, state, content):
        self.sent = state
        self.sent_at = time.monotonic()
        try:
            self.send(content)
        except (OSError, MessageTooLarge) as e:  # the main connection is down: the next controller gets reset()
            log('cannot send engine_activity: %s' % e)

    def _run(self):
        block_sigint()
        while True:
            self.wake.wait()
            self.wake.clear()
            wait = self.sent_at + ACTIVITY_SECONDS - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            with self.lock:
                self.due = False
                self._report()
