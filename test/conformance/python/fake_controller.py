"""A small fake controller for testing the python engine over the real wire.

Framing and signing are written here from docs/protocol.md, independently of the
engine's own code (which these tests must not trust): struct for the frame, the
standard hmac module for signatures. Every message the engine sends is checked.
"""

import hashlib
import hmac
import json
import os
import queue
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, '..', '..', '..'))
ENGINE_DIR = os.path.join(REPO, 'engines', 'python')
ENGINE = os.path.join(ENGINE_DIR, 'multiengine_engine.py')
PYTHON = os.environ.get('MULTIENGINE_PYTHON') or sys.executable

try:
    import numpy  # noqa: F401  (only to know whether the numpy cases can run)
    HAVE_NUMPY = True
except Exception:
    HAVE_NUMPY = False


def iso_now():
    t = time.time()
    return time.strftime('%Y-%m-%dT%H:%M:%S', time.gmtime(t)) + '.%03dZ' % (int(t * 1000) % 1000)


def recv_exact(sock, n):
    chunks = []
    while n:
        b = sock.recv(n)
        if not b:
            raise EOFError('connection closed')
        chunks.append(b)
        n -= len(b)
    return b''.join(chunks)


def read_frame(sock):
    body_len, count = struct.unpack('>II', recv_exact(sock, 8))
    assert 1 <= count <= 65536, 'bad part count %d' % count
    lengths = struct.unpack('>%dI' % count, recv_exact(sock, 4 * count))
    assert 4 + 4 * count + sum(lengths) == body_len, 'body length %d does not match parts %r' % (body_len, lengths)
    return [recv_exact(sock, n) if n else b'' for n in lengths]


def write_frame(sock, parts):
    head = struct.pack('>II', 4 + 4 * len(parts) + sum(len(p) for p in parts), len(parts))
    head += b''.join(struct.pack('>I', len(p)) for p in parts)
    sock.sendall(head + b''.join(bytes(p) for p in parts))


class Msg(object):
    def __init__(self, parts, key):
        self.parts = parts
        self.signature = parts[0]
        expected = hmac.new(key, b''.join(parts[1:5]), hashlib.sha256).hexdigest().encode('ascii') if key else b''
        self.signature_ok = hmac.compare_digest(expected, parts[0])
        self.header, self.parent_header, self.metadata, self.content = [json.loads(p.decode('utf-8')) for p in parts[1:5]]
        self.buffers = parts[5:]
        self.received = time.monotonic()

    @property
    def msg_type(self):
        return self.header['msg_type']

    def __repr__(self):
        return '<Msg %s %r>' % (self.msg_type, self.content)


class Peer(object):
    """One engine connection (accepted, or a client's direct one); a thread reads and queues its
    messages. engine_activity reports go to `activity`, apart from the request traffic."""

    def __init__(self, sock, key):
        self.sock = sock
        self.key = key
        self.session = str(uuid.uuid4())
        self.inbox = queue.Queue()
        self.activity = queue.Queue()
        self.closed = threading.Event()
        self.bad = []
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        try:
            while True:
                m = Msg(read_frame(self.sock), self.key)
                if not m.signature_ok:
                    self.bad.append(m)
                (self.activity if m.msg_type == 'engine_activity' else self.inbox).put(m)
        except (EOFError, OSError):
            pass
        finally:
            self.closed.set()

    def send(self, msg_type, content, parent=None, metadata=None, buffers=(), key=None, msg_id=None):
        header = {'msg_id': msg_id or uuid.uuid4().hex, 'msg_type': msg_type, 'session': self.session,
                  'date': iso_now(), 'version': 'multiengine/1'}
        json_parts = [json.dumps(x, separators=(',', ':')).encode('utf-8')
                      for x in (header, parent or {}, metadata or {}, content)]
        k = self.key if key is None else key
        sig = hmac.new(k, b''.join(json_parts), hashlib.sha256).hexdigest().encode('ascii') if k else b''
        with self.lock:
            write_frame(self.sock, [sig] + json_parts + [bytes(b) for b in buffers])
        return header

    def recv(self, timeout=10.0):
        try:
            return self.inbox.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError('no message from the engine within %s s' % timeout)

    def expect_nothing(self, seconds=0.2):
        """Asserts that no request traffic arrives for `seconds`."""
        try:
            m = self.inbox.get(timeout=seconds)
        except queue.Empty:
            return
        raise AssertionError('unexpected message %r (parent %r)' % (m, m.parent_header))

    def wait_closed(self, timeout=5.0):
        """Asserts that the engine closes this connection within `timeout`."""
        if not self.closed.wait(timeout):
            raise AssertionError('the engine did not close the connection within %s s' % timeout)

    def close(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()


class FakeController(object):
    """Listens, starts one real engine process, accepts its main and heart connections."""

    def __init__(self, key=None, heartbeat_ms=100, engine_id=0, requested_id=None, env=None,
                 registration_error=None, module_mode=False, max_message_bytes=None, reconnect_ms=None):
        self.key = (uuid.uuid4().hex + uuid.uuid4().hex).encode('ascii') if key is None else key
        self.heartbeat_ms = heartbeat_ms
        self.engine_id = engine_id
        self.tmp = tempfile.mkdtemp(prefix='multiengine-pytest-')
        self.server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.server.bind(('127.0.0.1', 0))
        self.server.listen(8)
        self.port = self.server.getsockname()[1]
        self.file = os.path.join(self.tmp, 'multiengine-engine.json')
        info = {'transport': 'tcp', 'ip': '127.0.0.1', 'port': self.port, 'key': self.key.decode('ascii'),
                'signature_scheme': 'hmac-sha256', 'controller_pid': os.getpid(), 'profile': 'test',
                'heartbeat_ms': 1000}
        fd = os.open(self.file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, 'w') as f:
            json.dump(info, f)
        args = ['-m', 'multiengine_engine'] if module_mode else [ENGINE]
        args = [PYTHON] + args + ['--file', self.file]
        if requested_id is not None:
            args += ['--id', str(requested_id)]
        penv = dict(os.environ)
        penv.update(env or {})
        if module_mode:
            penv['PYTHONPATH'] = os.pathsep.join([ENGINE_DIR] + [p for p in [penv.get('PYTHONPATH')] if p])
        self.stderr_path = os.path.join(self.tmp, 'stderr.txt')
        self.stderr_file = open(self.stderr_path, 'wb')
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=self.stderr_file, stderr=self.stderr_file,
                                     env=penv, cwd=self.tmp)
        self.directs = []
        self.main = self._accept()
        self.registration = self.main.recv()
        if registration_error is not None:
            self.main.send('registration_reply', {'status': 'error', 'ename': 'RegistrationError',
                                                  'evalue': registration_error, 'traceback': []},
                           parent=self.registration.header)
            self.heart = None
            return
        self.registration_reply = {'status': 'ok', 'id': engine_id, 'heartbeat_ms': heartbeat_ms}
        for k, v in (('max_message_bytes', max_message_bytes), ('reconnect_ms', reconnect_ms)):
            if v is not None:
                self.registration_reply[k] = v
        self._accept_registration()

    def _accept_registration(self):
        self.main.send('registration_reply', self.registration_reply, parent=self.registration.header)
        self.heart = self._accept()
        self.first_beat = self.heart.recv()

    def reregister(self):
        """Drops the engine's main and heart connections as a controller that dies does, then
        accepts its registration again (section 12; the engine needs reconnect_ms)."""
        self.main.close()
        self.heart.close()
        self.main = self._accept()
        self.registration = self.main.recv()
        self._accept_registration()

    def _accept(self):
        self.server.settimeout(15)
        try:
            sock, _ = self.server.accept()
        except socket.timeout:
            raise AssertionError('the engine did not connect; stderr:\n' + self.stderr())
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return Peer(sock, self.key)

    def stderr(self):
        self.stderr_file.flush()
        with open(self.stderr_path, 'rb') as f:
            return f.read().decode('utf-8', 'replace')

    # -- requests

    def send(self, msg_type, content, buffers=(), msg_id=None, peer=None):
        """Sends a work request for this engine on the main connection (or on `peer`, a direct one)."""
        return (peer or self.main).send(msg_type, content, metadata={'targets': [self.engine_id]}, buffers=buffers,
                                        msg_id=msg_id)

    def collect(self, header, timeout=10.0, peer=None):
        """(reply, streams) for the request with `header`, from the main connection (or `peer`);
        checks what every reply must carry."""
        streams = []
        deadline = time.monotonic() + timeout
        while True:
            m = (peer or self.main).recv(max(0.01, deadline - time.monotonic()))
            assert m.signature_ok, 'bad signature on %r' % m
            if m.parent_header.get('msg_id') != header['msg_id']:
                raise AssertionError('unexpected message %r (parent %r)' % (m, m.parent_header))
            if m.msg_type == 'stream':
                streams.append(m)
                continue
            assert m.msg_type == header['msg_type'].replace('_request', '_reply'), m
            assert m.parent_header == header, (m.parent_header, header)
            assert m.metadata.get('engine_id') == self.engine_id, m.metadata
            return m, streams

    def request(self, msg_type, content, buffers=(), timeout=10.0):
        return self.collect(self.send(msg_type, content, buffers), timeout)

    def ok(self, msg_type, content, buffers=(), timeout=10.0):
        reply, _ = self.request(msg_type, content, buffers, timeout)
        assert reply.content.get('status') == 'ok', reply.content
        return reply

    def execute(self, code, timeout=10.0):
        return self.ok('execute_request', {'code': code}, timeout=timeout).content

    def push(self, ns, buffers=()):
        return self.ok('push_request', {'ns': ns}, buffers)

    def pull(self, names):
        r = self.ok('pull_request', {'names': names})
        return r.content['values'], r.buffers

    def interrupt(self, msg_ids=None):
        self.heart.send('interrupt_request', {} if msg_ids is None else {'msg_ids': msg_ids})

    # -- direct connections (a client's side)

    @property
    def uuid(self):
        return self.registration.content['uuid']

    def connect_direct(self):
        """A TCP connection to the engine's direct listener, as a Peer; no handshake yet."""
        d = self.registration.content['direct']
        sock = socket.create_connection((d['ip'], d['port']), timeout=5)
        sock.settimeout(None)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        peer = Peer(sock, self.key)
        self.directs.append(peer)
        return peer

    def direct(self):
        """A direct connection after a successful handshake."""
        peer = self.connect_direct()
        h = peer.send('engine_connect_request', {'engine_uuid': self.uuid})
        r = peer.recv()
        assert r.signature_ok and r.msg_type == 'engine_connect_reply' and r.parent_header == h, r
        assert r.content == {'status': 'ok', 'id': self.engine_id, 'uuid': self.uuid}, r.content
        return peer

    # -- teardown

    def rss_kb(self):
        with open('/proc/%d/status' % self.proc.pid) as f:
            for line in f:
                if line.startswith('VmRSS:'):
                    return int(line.split()[1])
        return None

    def wait_exit(self, timeout=5.0):
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def close(self):
        if self.proc.poll() is None:
            try:
                self.main.send('shutdown_request', {})
            except OSError:
                pass
            if self.wait_exit(3.0) is None:
                self.proc.kill()
                self.proc.wait()
        for p in [self.main, self.heart] + self.directs:
            if p is not None:
                p.close()
        self.server.close()
        self.stderr_file.close()
        for name in os.listdir(self.tmp):
            os.unlink(os.path.join(self.tmp, name))
        os.rmdir(self.tmp)
