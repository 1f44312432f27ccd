"""The python engine's lifecycle: registering (again, after losing the controller), the heart and
reader threads, aborts and interrupts as they arrive, and the loop that runs requests one at a
time. Its parts: registration.py, work_queue.py, requests.py (with namespace.py and errors.py),
capture.py, replies.py (with batch.py), interrupt.py, direct.py; command_line.py starts it."""

import json
import os
import sys
import threading
import time

from .capture import OutStream, Output
from .direct import ActivityReporter, DirectListener, ReplayGuard
from .errors import ReplyError, error_content
from .interrupt import Interrupts
from . import probe
from .process_stats import ProcessStats
from .registration import Fatal, Refused, await_reply, positive, registration_content
from .replies import Replies
from .requests import Requests
from .task_report import TaskReporter
from .wire import (
    DEFAULT_MAX_MESSAGE_BYTES, REGISTRATION_TIMEOUT_SECONDS, WORK_REQUESTS,
    Channel, FrameError, MessageTooLarge, Signer, block_sigint, connect, iso_now, log, random_uuid,
)
from .work_queue import RequestQueue, Stop

#: Set by a controller in the environment of engines it launches (registration_request.supervised).
SUPERVISED_ENV = 'MULTIENGINE_SUPERVISED'
#: How long one reconnection attempt may wait for the controller's registration_reply.
RECONNECT_REPLY_SECONDS = 5.0


class Engine(object):
    def __init__(self, info, requested_id=None, reconnect_ms=None, engine_set=None):
        self.info = info
        self.requested_id = requested_id
        #: --engine-set: the engine set that started this engine (registration_request.engine_set).
        self.engine_set = engine_set
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
        self.signer = Signer(info['key'])
        self.session = random_uuid()
        self.uuid = random_uuid()
        self.id = None
        self.heartbeat_ms = info.get('heartbeat_ms', 1000)
        self.queue = RequestQueue()
        #: Where clients connect directly (section 13); None until the first registration, or when listening failed.
        self.direct = None
        self.replays = ReplayGuard()
        self.activity = ActivityReporter(lambda: self.queue.direct, self._send_activity)
        self.tasks = TaskReporter(self._send_task_report, lambda: self.current is not None or bool(self.queue.items))
        self.replies = Replies(self)
        self.chan = None
        self.heart = None
        self.output = None
        self.requests = Requests()
        self.interrupts = Interrupts(self.requests.space, lambda: self.current is not None)
        self.stats = ProcessStats()
        self._stopping = False

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
            chan.send('registration_request', registration_content(
                self.uuid, self.id if resume else self.requested_id, resume, self.supervised,
                self.direct.address if self.direct is not None else None, self.engine_set))
            c = await_reply(chan, timeout)
            self.id = c['id']
            hb = c.get('heartbeat_ms')
            if isinstance(hb, (int, float)) and hb > 0:
                self.heartbeat_ms = hb
            self._reconnect_ms = self.reconnect_ms if self.reconnect_ms is not None else positive(c.get('reconnect_ms'))
            mmb = positive(c.get('max_message_bytes'))
            if mmb:
                self.max_message_bytes = int(mmb)
                chan.max_message_bytes = chan.reader.max_message_bytes = int(mmb)
            self.max_output_bytes = int(positive(c.get('max_output_bytes')))
            self.tasks.enabled = c.get('report_tasks') is True
            if self.output is not None:
                self.output.keep = self.tasks.enabled
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
        self.requests.space.install_main = True
        sys.modules['__main__'] = self.requests.space.module
        self.interrupts.install()
        real_out, real_err = sys.stdout, sys.stderr
        self.output = Output(self.replies.send_to, real_out, real_err, self.max_output_bytes, self.max_message_bytes)
        self.output.keep = self.tasks.enabled
        sys.stdout = OutStream(self.output, 'stdout', real_out)
        sys.stderr = OutStream(self.output, 'stderr', real_err)
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
                    elif msg.msg_type in ('stack_request', 'profile_request'):
                        probe.answer(self, heart, msg)
                    elif msg.msg_type == 'shutdown_request':
                        self.stop(0, 'shutdown_request')
                    else:
                        log('ignoring %s on the heart connection' % msg.msg_type)
        except (EOFError, OSError, FrameError, ValueError) as e:
            self._lost(gen, 'the controller closed the heart connection (%s)' % (e or 'closed'))

    def _beat(self):
        """heartbeat content; `running` names the request being handled, so the controller sees
        direct work whose user code keeps the main thread from reporting it; `stats` (about once a
        second) what the process uses."""
        beat = {'uuid': self.uuid, 'id': self.id}
        current = self.current
        if current is not None:
            beat['running'] = {'msg_id': current.msg_id, 'msg_type': current.msg_type}
        stats = self.stats.due(max(self.heartbeat_ms, 10) / 1000.0)
        if stats is not None:
            beat['stats'] = stats
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
                    self._abort_request(msg)
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
        """A work request joins the queue, unless an abort (or interrupt) named it before it came."""
        msg.received = iso_now()
        if not self.queue.put(msg):
            self.replies.answer_aborted([msg])
            return
        if msg.origin is not None and self.queue.busy:  # else it starts now, and is reported then
            self.activity.changed()

    def _abort_request(self, msg):
        """abort_request: the named queued requests (all without msg_ids) are answered 'aborted';
        named ones that have not arrived (a direct request can lose the race to its abort) will be
        when they come. The running request is not affected."""
        ids = msg.content.get('msg_ids')
        if ids is None:
            self.replies.answer_aborted(self.queue.take(lambda req: True))
        elif isinstance(ids, list):
            self._abort_ids(ids)
        else:
            log('ignoring an abort_request whose msg_ids is not an array')

    def _abort_ids(self, ids):
        current = self.current
        ids = [x for x in ids if isinstance(x, str)]
        self.replies.answer_aborted(self.queue.abort(ids, current.msg_id if current is not None else None))

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
        self.replies.reply(msg, {'status': 'error', 'ename': 'ProtocolError', 'traceback': [],
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
            self.replies.send_to(None, 'engine_activity', content, b'{}', {'engine_id': self.id})

    def _send_task_report(self, content, entries):
        if self.chan is None:
            raise OSError('no controller connection')
        self.replies.send_to(None, 'task_report', content, b'{}', {'engine_id': self.id}, (entries,))

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
            self.interrupts.interrupt()
            return
        current = self.current
        if current is not None and current.msg_id in ids:
            self.interrupts.interrupt()
        self._abort_ids(ids)

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
            if isinstance(item, Stop):
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
            self.replies.batch.flush()
            self.tasks.flush()
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
        requests = self.requests
        try:
            content, buffers = requests.handlers[msg.msg_type](msg)
        except ReplyError as e:
            requests.space.in_user_code = False
            content, buffers = e.content(), ()
        except BaseException as e:
            requests.space.in_user_code = False
            content, buffers = error_content(e, requests.space.loop is not None), ()
        self.output.flush()
        self.output.set_parent(None, None)
        self.interrupts.reinstall()
        self.requests.space.interrupt_pending = False  # an interrupt that came too late for this request's code
        self.current = None
        more = bool(self.queue.items)  # requests wait: this reply goes out with theirs
        if more:
            self.replies.batch.open()
        self.replies.reply(msg, content, started, iso_now(), buffers, time.monotonic() - t0)
        if not more or self.replies.batch.expired():
            self.replies.batch.flush()
        if not more and msg.origin is not None:
            self.tasks.idle()
