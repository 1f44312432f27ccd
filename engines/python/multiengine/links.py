"""One signed connection of a client (to the controller, or straight to an engine) and the
messages a client sends on it. Framing, signing and JSON come from the engine's wire layer
(multiengine_python/wire.py); docs/protocol.md sections 3-5 and 13 are the specification."""

import os
import select
import threading
import time

from multiengine_python.wire import (
    PROTOCOL_VERSION, FrameReader, connect, decode_message, dumps, iso_now, message_bytes, send_frames,
)

from .errors import MessageTooLargeError


class MessageMaker(object):
    """Headers and signed parts for one client session: msg_ids are a prefix drawn once per
    process plus a counter, as the TypeScript client makes them."""

    def __init__(self, signer, session):
        self.signer = signer
        self.session = session
        self._prefix = os.urandom(9).hex()
        self._counter = 0
        self._lock = threading.Lock()
        self._templates = {}

    def next_id(self):
        with self._lock:
            self._counter += 1
            return '%s-%x' % (self._prefix, self._counter)

    def header(self, msg_type, msg_id):
        """(header dict, its JSON bytes); the bytes come from a template made once per msg_type."""
        tpl = self._templates.get(msg_type)
        if tpl is None:
            fixed = dumps({'msg_type': msg_type, 'session': self.session}).decode('utf-8')[1:-1]
            tpl = self._templates[msg_type] = ('{"msg_id":"', '",' + fixed + ',"date":"',
                                               '","version":' + dumps(PROTOCOL_VERSION).decode('utf-8') + '}')
        date = iso_now()
        header = {'msg_id': msg_id, 'msg_type': msg_type, 'session': self.session, 'date': date, 'version': PROTOCOL_VERSION}
        return header, ('%s%s%s%s%s' % (tpl[0], msg_id, tpl[1], date, tpl[2])).encode('utf-8')

    def parts(self, header_bytes, content, metadata=None, buffers=()):
        meta = dumps(metadata) if metadata else b'{}'
        body = dumps(content)
        parts = [self.signer.sign((header_bytes, b'{}', meta, body)), header_bytes, b'{}', meta, body]
        if buffers:
            parts.extend(buffers)
        return parts


def check_size(parts, limit, what):
    """The frame's size; MessageTooLargeError (nothing sent) past `limit`."""
    size = message_bytes(parts)
    if size > limit:
        raise MessageTooLargeError(what, size, limit)
    return size


#: A busy engine's requests wait in the client's outbox until this many, a waiter, or the flusher sends them.
OUTBOX_MESSAGES = 64
#: How long the flusher lets a burst of requests gather (seconds).
FLUSH_SECONDS = 0.0005


class Flusher(object):
    """Writes the links' outboxes shortly after they fill: a burst of requests to a busy engine
    goes out in a few writes (one wake-up of the engine each) instead of one per request, and a
    request nobody waits for still leaves within FLUSH_SECONDS. A daemon thread, started on first use."""

    def __init__(self, links):
        self._links = links
        self._wake = threading.Event()
        self._thread = None

    def poke(self):
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name='multiengine-flusher', daemon=True)
            self._thread.start()
        self._wake.set()

    def _run(self):
        while True:
            self._wake.wait()
            time.sleep(FLUSH_SECONDS)
            self._wake.clear()
            for link in list(self._links()):
                try:
                    link.flush()
                except OSError:
                    pass  # the reader finds the connection closed and fails its requests


class Link(object):
    """A socket with its frame reader; `engine_id` is None for the controller's connection."""

    def __init__(self, sock, max_message_bytes, engine_id=None, uuid=None):
        self.sock = sock
        self.reader = FrameReader(sock, max_message_bytes)
        self.engine_id = engine_id
        self.uuid = uuid
        self.closed = False
        self.send_lock = threading.Lock()
        #: Messages kept for one write (see Flusher); written before anything sent after them.
        self.outbox = []
        #: The msg_id of a direct link's engine_connect_request until its answer was read.
        self.handshake = None

    def send(self, parts):
        with self.send_lock:
            if self.outbox:
                frames, self.outbox = self.outbox + [parts], []
                send_frames(self.sock, frames)
            else:
                send_frames(self.sock, (parts,))

    def keep(self, parts):
        """Queues a message for the next flush; True when the outbox is full and should go now."""
        with self.send_lock:
            self.outbox.append(parts)
            return len(self.outbox) >= OUTBOX_MESSAGES

    def flush(self):
        with self.send_lock:
            if self.outbox and not self.closed:
                frames, self.outbox = self.outbox, []
                send_frames(self.sock, frames)

    def has_frame(self):
        """True when a whole frame is already buffered (select would not say so)."""
        r = self.reader
        n = r.buffered()
        if n < 4:
            return False
        body = int.from_bytes(r.buf[r.pos:r.pos + 4], 'big')
        return n >= 4 + body

    def recv(self, signer):
        return decode_message(self.reader.read_frame(), signer)

    def close(self):
        self.closed = True
        try:
            self.sock.close()
        except OSError:
            pass


def open_link(ip, port, max_message_bytes, timeout, engine_id=None, uuid=None):
    return Link(connect(ip, port, timeout), max_message_bytes, engine_id, uuid)


def recv_reply(link, signer, msg_id, timeout):
    """The reply to `msg_id` on a link nobody else reads yet (connect and handshake); None on timeout."""
    link.sock.settimeout(timeout)
    try:
        while True:
            if not link.has_frame():
                r, _, _ = select.select([link.sock], [], [], timeout)
                if not r:
                    return None
            msg = link.recv(signer)
            if msg.parent_header.get('msg_id') == msg_id:
                return msg
    finally:
        link.sock.settimeout(None)
