"""Wire layer of the python engine: HMAC-SHA256 signing, framing and message envelopes.

docs/protocol.md is the specification; core/transport/{frame,codec}.ts is the TypeScript half.
"""

import json
import mmap
import os
import signal
import socket
import struct
import sys
import threading
import time

PROTOCOL_VERSION = 'multiengine/1'
KERNEL = 'python'
DEFAULT_MAX_MESSAGE_BYTES = 1024 * 1024 * 1024
MAX_PARTS = 65536
JSON_PARTS = 4
#: Parts at least this big are read straight into their own buffer (one copy, aligned).
OWN_BUFFER_BYTES = 64 * 1024
#: Binary parts at least this big are received into memory that asks for transparent huge pages
#: (as numpy does for its arrays): fresh memory costs a page fault per 4 KiB otherwise, more than
#: the copy itself. Only these: advising the whole heap would round an idle engine up in 2 MiB steps.
HUGE_PAGE_PART_BYTES = 4 * 1024 * 1024
#: The index of the first binary part of a message (signature and four JSON parts come first).
FIRST_BUFFER_PART = 5
#: Frames smaller than this are joined and written with one sendall.
JOIN_FRAME_BYTES = 256 * 1024
WORK_REQUESTS = frozenset((
    'execute_request', 'apply_request', 'push_request', 'pull_request', 'keys_request', 'clear_request',
))
#: Captured output waits at most this long (seconds) before it is sent as a stream message.
STREAM_FLUSH_SECONDS = 0.015
REGISTRATION_TIMEOUT_SECONDS = 30.0
CONNECT_TIMEOUT_SECONDS = 10.0

_LOG = sys.stderr


def block_sigint():
    """Helper threads never take SIGINT, so it always lands on the main thread (and interrupts
    its blocking calls)."""
    if hasattr(signal, 'pthread_sigmask'):
        try:
            signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        except (OSError, ValueError):
            pass


def log(text):
    """Engine diagnostics go to the process's real stderr (the controller logs it)."""
    try:
        _LOG.write('multiengine python engine: %s\n' % text)
        _LOG.flush()
    except Exception:
        pass


# --------------------------------------------------------------------------------------
# HMAC-SHA256 (RFC 2104) over the builtin _sha256 module. hashlib/hmac would load OpenSSL,
# which costs ~3.5 MB of resident memory per engine; signing small JSON parts does not need it.

def _sha256_factory():
    for name in ('_sha2', '_sha256'):
        try:
            mod = __import__(name)
            return mod.sha256
        except (ImportError, AttributeError):
            continue
    import hashlib  # pragma: no cover - only on builds without the builtin module
    return hashlib.sha256


_sha256 = _sha256_factory()
try:
    from _operator import _compare_digest
except ImportError:  # pragma: no cover
    def _compare_digest(a, b):
        if len(a) != len(b):
            return False
        diff = 0
        for x, y in zip(a, b):
            diff |= x ^ y
        return diff == 0


class Signer(object):
    """Signs and verifies messages: hex(HMAC-SHA256(key, header|parent|metadata|content))."""

    def __init__(self, key):
        key = key.encode('utf-8') if isinstance(key, str) else bytes(key)
        self.key = key
        if not key:
            self._inner = self._outer = None
            return
        if len(key) > 64:
            key = _sha256(key).digest()
        key = key + b'\x00' * (64 - len(key))
        self._inner = _sha256(bytes(b ^ 0x36 for b in key))
        self._outer = _sha256(bytes(b ^ 0x5C for b in key))

    def sign(self, json_parts):
        """The signature (ASCII hex bytes, b'' when the key is empty) of the four JSON parts."""
        if self._inner is None:
            return b''
        h = self._inner.copy()
        for p in json_parts:
            h.update(p)
        o = self._outer.copy()
        o.update(h.digest())
        return o.hexdigest().encode('ascii')

    def verify(self, parts):
        """True when parts[0] is the signature of parts[1..4]."""
        if len(parts) < 1 + JSON_PARTS:
            return False
        expected = self.sign(parts[1:1 + JSON_PARTS])
        return _compare_digest(expected, bytes(parts[0]))


# --------------------------------------------------------------------------------------
# Framing:  u32be bodyLength | u32be partCount | u32be partLength * partCount | parts
# bodyLength counts everything after itself.

class FrameError(Exception):
    """The byte stream is not a valid frame; the connection cannot be trusted any more."""


class MessageTooLarge(Exception):
    """A message to send is bigger than the controller's maximum message size; nothing was sent."""

    def __init__(self, size, limit):
        Exception.__init__(self, 'the message is %d bytes, more than the maximum message size of %d bytes' % (size, limit))
        self.size = size
        self.limit = limit


def _nbytes(p):
    return p.nbytes if type(p) is memoryview else len(p)


def _head_and_size(parts):
    """The frame head of `parts` and the size of the whole frame."""
    lengths = [_nbytes(p) for p in parts]
    n = len(parts)
    body = 4 + 4 * n + sum(lengths)
    return struct.pack('>%dI' % (n + 2), body, n, *lengths), 4 + body


def message_bytes(parts):
    """The size of the frame that carries `parts`, whose first five (the signature and the JSON
    parts) are bytes: they are measured at C speed (a client checks each request's size)."""
    n = len(parts)
    size = 8 + 4 * n + sum(map(len, parts[:5]))
    return size + sum([_nbytes(p) for p in parts[5:]]) if n > 5 else size


def frame_head(parts):
    return _head_and_size(parts)[0]


def encode_frame(parts):
    """The whole frame as one bytes object."""
    return b''.join([frame_head(parts)] + list(parts))


_HAS_SENDMSG = hasattr(socket.socket, 'sendmsg')
_IOV_MAX = 512


def send_frame(sock, parts):
    """Writes one frame (see send_frames)."""
    send_frames(sock, (parts,))


def send_frames(sock, frames):
    """Writes frames (lists of parts) in order. Runs of small frames are joined and go out with one
    sendall; big ones with sendmsg (scatter/gather), so array buffers are never copied."""
    run, run_bytes = [], 0
    for parts in frames:
        head, size = _head_and_size(parts)
        if size < JOIN_FRAME_BYTES:
            run.append(head)
            run.extend(parts)
            run_bytes += size
            if run_bytes < JOIN_FRAME_BYTES:
                continue
        if run:
            sock.sendall(b''.join(run))
            run, run_bytes = [], 0
        if size >= JOIN_FRAME_BYTES:
            _send_scattered(sock, [head] + list(parts))
    if run:
        sock.sendall(b''.join(run))


def _send_scattered(sock, chunks):
    if not _HAS_SENDMSG:  # pragma: no cover - Windows
        for c in chunks:
            if _nbytes(c):
                sock.sendall(c)
        return
    views = [memoryview(c) for c in chunks if _nbytes(c)]
    while views:
        sent = sock.sendmsg(views[:_IOV_MAX])
        while sent:
            first = views[0].nbytes
            if sent >= first:
                sent -= first
                views.pop(0)
            else:
                views[0] = views[0][sent:]
                sent = 0


def _huge_page_buffer(n):
    """A writable buffer of n bytes whose pages the kernel may back with huge pages (an anonymous
    mmap advised MADV_HUGEPAGE); a bytearray where that is not available."""
    advice = getattr(mmap, 'MADV_HUGEPAGE', None)
    if advice is None or os.environ.get('MULTIENGINE_HUGEPAGES') == '0':
        return bytearray(n)
    m = mmap.mmap(-1, n, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)  # shared anonymous memory gets no huge pages
    try:
        m.madvise(advice)
    except OSError:
        pass  # a kernel without transparent huge pages: ordinary pages
    return m


class FrameReader(object):
    """Reads whole frames from a blocking socket. Parts come back as bytearrays (writable,
    so numpy arrays made from them are writable); a part of OWN_BUFFER_BYTES or more is
    received straight into its own allocation."""

    def __init__(self, sock, max_message_bytes=DEFAULT_MAX_MESSAGE_BYTES):
        self.sock = sock
        self.max_message_bytes = max_message_bytes
        self.buf = bytearray()
        self.pos = 0

    def buffered(self):
        return len(self.buf) - self.pos

    def _fill(self, need):
        while len(self.buf) - self.pos < need:
            if self.pos:
                del self.buf[:self.pos]
                self.pos = 0
            chunk = self.sock.recv(262144)
            if not chunk:
                raise EOFError('connection closed')
            self.buf += chunk

    def _take(self, n):
        self._fill(n)
        p = self.pos
        self.pos = p + n
        return self.buf[p:p + n]

    def _take_big(self, n, binary=False):
        out = _huge_page_buffer(n) if binary and n >= HUGE_PAGE_PART_BYTES else bytearray(n)
        view = memoryview(out)
        have = min(self.buffered(), n)
        if have:
            view[:have] = memoryview(self.buf)[self.pos:self.pos + have]
            self.pos += have
        while have < n:
            got = self.sock.recv_into(view[have:], n - have)
            if not got:
                raise EOFError('connection closed')
            have += got
        view.release()
        return out

    def read_frame(self):
        """The parts of the next frame. Raises EOFError at end of stream, FrameError on junk."""
        self._fill(8)
        body, count = struct.unpack_from('>II', self.buf, self.pos)
        if body > self.max_message_bytes:
            raise FrameError('message of %d bytes exceeds the maximum message size of %d bytes' % (body, self.max_message_bytes))
        if count == 0 or count > MAX_PARTS:
            raise FrameError('bad part count %d' % count)
        if body < 4 + 4 * count:
            raise FrameError('body length %d too short for %d parts' % (body, count))
        self.pos += 8
        self._fill(4 * count)
        lengths = struct.unpack_from('>%dI' % count, self.buf, self.pos)
        self.pos += 4 * count
        rest = body - 4 - 4 * count
        if sum(lengths) != rest:
            raise FrameError('part lengths sum to %d, body has %d' % (sum(lengths), rest))
        if max(lengths) >= OWN_BUFFER_BYTES:
            return [self._take_big(n, i >= FIRST_BUFFER_PART) if n >= OWN_BUFFER_BYTES else self._take(n) for i, n in enumerate(lengths)]
        self._fill(rest)  # small parts only (most messages): sliced from the buffer in one go
        buf, p, parts = self.buf, self.pos, []
        for n in lengths:
            parts.append(buf[p:p + n])
            p += n
        self.pos = p
        return parts


# --------------------------------------------------------------------------------------
# Messages

def _json_encoder(ensure_ascii):
    """JSONEncoder.encode, compact and strict. Where the C encoder is there, one made once: the
    encode method makes a new one for every call, which costs more than encoding a small object."""
    enc = json.JSONEncoder(ensure_ascii=ensure_ascii, allow_nan=False, separators=(',', ':'), check_circular=False)
    try:
        c = json.encoder.c_make_encoder(None, enc.default, json.encoder.encode_basestring_ascii if ensure_ascii
                                        else json.encoder.encode_basestring, None, ':', ',', False, False, False)
        join = ''.join
        fast = lambda obj: join(c(obj, 0))  # noqa: E731
        sample = {'a': [1, 2.5, None, True, 'x\u00e9\n'], 'b': {}}
        if fast(sample) == enc.encode(sample):
            return fast
    except Exception:  # no C accelerator, or a signature this code does not know
        pass
    return enc.encode


_dumps_utf8 = _json_encoder(False)
_dumps_ascii = _json_encoder(True)


def dumps(obj):
    """Compact UTF-8 JSON. Strings with lone surrogates (not UTF-8 encodable) fall back to \\u escapes."""
    s = _dumps_utf8(obj)
    try:
        return s.encode('utf-8')
    except UnicodeEncodeError:
        return _dumps_ascii(obj).encode('ascii')


_iso_second = (None, '')


def iso_now():
    """The current UTC time as JavaScript's Date.toISOString() writes it (the part up to the
    second is formatted once per second: three of these go into every reply)."""
    global _iso_second
    ms = int(time.time() * 1000)
    sec = ms // 1000
    cached = _iso_second
    if cached[0] != sec:
        cached = _iso_second = (sec, time.strftime('%Y-%m-%dT%H:%M:%S', time.gmtime(sec)))
    return '%s.%03dZ' % (cached[1], ms % 1000)


def random_uuid():
    b = bytearray(os.urandom(16))
    b[6] = (b[6] & 0x0F) | 0x40
    b[8] = (b[8] & 0x3F) | 0x80
    h = b.hex()
    return '%s-%s-%s-%s-%s' % (h[:8], h[8:12], h[12:16], h[16:20], h[20:])


class Message(object):
    __slots__ = ('header', 'parent_header', 'metadata', 'content', 'buffers', 'header_bytes', 'origin', 'received')

    def __init__(self, header, parent_header, metadata, content, buffers, header_bytes=None):
        self.header = header
        self.parent_header = parent_header
        self.metadata = metadata
        self.content = content
        self.buffers = buffers
        self.header_bytes = header_bytes
        #: The direct connection a work request came on; None: the main connection.
        self.origin = None
        #: When a work request reached the engine (reply metadata.received); None until queued.
        self.received = None

    @property
    def msg_type(self):
        return self.header.get('msg_type')

    @property
    def msg_id(self):
        return self.header.get('msg_id')


class BadMessage(Exception):
    def __init__(self, reason, text):
        Exception.__init__(self, text)
        self.reason = reason


_json_decoder = json.JSONDecoder()
_json_decode = _json_decoder.decode
_json_scan = _json_decoder.scan_once


def _loads(p):
    """A JSON part (UTF-8 bytes): `{}`, which most parent headers and metadata are, without the
    parser; compact JSON (all that peers write) by the scanner alone, without decode()'s
    whitespace matching; anything else by decode(), which also gives its errors."""
    if p == b'{}':
        return {}
    s = p.decode('utf-8')
    try:
        obj, end = _json_scan(s, 0)
    except StopIteration:
        end = -1
    return obj if end == len(s) else _json_decode(s)


def decode_message(parts, signer):
    """Verifies and parses frame parts (as codec.ts decodeMessage does)."""
    if len(parts) < 1 + JSON_PARTS:
        raise BadMessage('malformed', 'expected at least %d parts, got %d' % (1 + JSON_PARTS, len(parts)))
    if not signer.verify(parts):
        raise BadMessage('signature', 'signature mismatch')
    try:
        header, parent, metadata, content = [_loads(p) for p in parts[1:1 + JSON_PARTS]]
    except ValueError as e:
        raise BadMessage('malformed', 'bad JSON: %s' % e)
    if not (isinstance(header, dict) and isinstance(header.get('msg_id'), str)
            and isinstance(header.get('msg_type'), str) and isinstance(header.get('session'), str)):
        raise BadMessage('malformed', 'header lacks msg_id, msg_type or session')
    if not (isinstance(parent, dict) and isinstance(metadata, dict) and isinstance(content, dict)):
        raise BadMessage('malformed', 'parent_header, metadata and content must be JSON objects')
    return Message(header, parent, metadata, content, parts[1 + JSON_PARTS:], bytes(parts[1]))


def connect(ip, port, timeout=CONNECT_TIMEOUT_SECONDS):
    """A connected TCP socket with TCP_NODELAY. The host goes to getaddrinfo as bytes when it is
    ASCII: a str would load the idna codec and unicodedata (~1 MB per engine) for nothing."""
    try:
        host = ip.encode('ascii')
    except UnicodeEncodeError:
        host = ip
    err = None
    for family, kind, proto, _, addr in socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM):
        sock = socket.socket(family, kind, proto)
        try:
            sock.settimeout(timeout)
            sock.connect(addr)
            sock.settimeout(None)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            return sock
        except OSError as e:
            err = e
            sock.close()
    raise err or OSError('no address for %s' % ip)


def listen(host, family, backlog=16):
    """A TCP socket listening on `host`, on a free port."""
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.bind((host, 0))
        sock.listen(backlog)
    except OSError:
        sock.close()
        raise
    return sock


class Channel(object):
    """One signed message stream over a TCP socket; sends are serialised by a lock."""

    def __init__(self, sock, signer, session, max_message_bytes=DEFAULT_MAX_MESSAGE_BYTES):
        self.sock = sock
        self.signer = signer
        self.session = session
        self.reader = FrameReader(sock, max_message_bytes)
        self.lock = threading.Lock()
        self.closed = False
        #: Bigger messages are refused with MessageTooLarge before anything is written.
        self.max_message_bytes = max_message_bytes
        self._prefix = random_uuid()[:18]
        self._counter = 0
        self._headers = {}
        #: Messages kept back by hold(): [(frame, args)] until release().
        self.held = None

    def _header(self, msg_type):
        """The header's JSON bytes, from a template made once per msg_type (the same bytes as dumps)."""
        tpl = self._headers.get(msg_type)
        if tpl is None:
            fixed = dumps({'msg_type': msg_type, 'session': self.session}).decode('utf-8')[1:-1]
            version = dumps(PROTOCOL_VERSION).decode('utf-8')
            tpl = self._headers[msg_type] = ('{"msg_id":"', '",' + fixed + ',"date":"', '","version":' + version + '}')
        self._counter = (self._counter + 1) % 0x7FFFFFFF
        return ('%s%s%08x%s%s%s' % (tpl[0], self._prefix, self._counter, tpl[1], iso_now(), tpl[2])).encode('utf-8')

    def encode(self, msg_type, content, parent=b'{}', metadata=None, buffers=()):
        """The parts of a message (for post). `parent` is the JSON bytes of the parent header (a
        request's header part is reused verbatim). MessageTooLarge when it is too big to send."""
        return self.encode_sized(msg_type, content, parent, metadata, buffers)[0]

    def encode_sized(self, msg_type, content, parent=b'{}', metadata=None, buffers=()):
        """encode's parts, and the size of the frame that carries them (its length prefix included)."""
        header = self._header(msg_type)
        meta = dumps(metadata) if metadata else b'{}'
        body = dumps(content)
        sig = self.signer.sign((header, parent, meta, body))
        size = 4 + 4 * (5 + len(buffers)) + len(sig) + len(header) + len(parent) + len(meta) + len(body)
        parts = [sig, header, parent, meta, body]
        if buffers:
            size += sum(_nbytes(p) for p in buffers)
            parts.extend(buffers)
        if size > self.max_message_bytes:
            raise MessageTooLarge(size, self.max_message_bytes)
        return parts, size + 4

    def hold(self):
        """Keeps the messages posted from now on until release() (so they go out in one write)."""
        with self.lock:
            if self.held is None:
                self.held = []

    def post(self, frame, args=None):
        """Writes an encoded message, or keeps it (with `args`, the caller's) while held; False when
        the channel was closed (nothing sent)."""
        with self.lock:
            if self.closed:
                return False
            if self.held is not None:
                self.held.append((frame, args))
            else:
                send_frames(self.sock, (frame,))
        return True

    def release(self):
        """Writes the held messages in one go; returns the (frame, args) of those it could not write
        (the channel is closed or the write failed)."""
        with self.lock:
            held, self.held = self.held, None
            if not held or self.closed:
                return held or []
            try:
                send_frames(self.sock, [frame for frame, _ in held])
            except OSError as e:
                log('cannot send %d message%s: %s' % (len(held), '' if len(held) == 1 else 's', e))
                return held
        return []

    def send(self, msg_type, content, parent=b'{}', metadata=None, buffers=()):
        """Sends a message (see encode); False when the channel was closed (nothing sent)."""
        return self.post(self.encode(msg_type, content, parent, metadata, buffers))

    def close(self):
        """Stops sending and wakes a thread blocked reading this channel."""
        with self.lock:
            self.closed = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        try:
            self.sock.close()
        except OSError:
            pass

    def recv_message(self):
        """The next message; BadMessage when it is not well-signed and well-formed. EOFError at the end."""
        return decode_message(self.reader.read_frame(), self.signer)

    def recv(self):
        """The next well-signed message; bad ones are logged and skipped. EOFError at the end."""
        while True:
            try:
                return self.recv_message()
            except BadMessage as e:
                log('dropped a message: %s' % e)
