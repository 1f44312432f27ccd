"""Reply batching: messages of requests that run back to back leave in one write."""

import threading
import time

from .wire import block_sigint

#: Messages of requests that run back to back wait at most this long (seconds) to go out together.
BATCH_SECONDS = 0.001


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
