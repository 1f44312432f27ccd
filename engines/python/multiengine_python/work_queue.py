"""The engine's queue of work requests not yet started, from the main and the direct connections,
and the msg_ids aborted before their request arrived."""

import threading
from collections import deque

#: msg_ids aborted before their request arrived, remembered at most (the oldest are forgotten).
MAX_EARLY_ABORTS = 4096


class Stop(object):
    """Queued ahead of everything by stop_if_idle: the main thread exits with `code`."""
    origin = None

    def __init__(self, code):
        self.code = code


class RequestQueue(object):
    """Work requests in arrival order, from the main and the direct connections; `busy` is true
    while the main thread runs one; `direct` counts the queued direct requests.

    A single-engine request may come straight from its client on a direct connection while its
    abort travels through the controller (protocol section 13), so an abort can arrive first:
    the msg_ids an abort names that are neither queued nor running are remembered (in insertion
    order, bounded), and put() refuses such a request when it comes. Both happen under the
    queue's lock, so a request arriving on another thread cannot slip between the two."""

    def __init__(self):
        self.items = deque()
        self.cond = threading.Condition(threading.Lock())
        self.busy = False
        self.direct = 0
        #: msg_id -> None, oldest first (a dict: O(1) lookups, and it keeps insertion order).
        self.early_aborts = {}

    def put(self, item):
        """Queues a request; False (not queued) when it was aborted before it arrived."""
        with self.cond:
            if self.early_aborts and item.msg_id in self.early_aborts:
                del self.early_aborts[item.msg_id]
                return False
            self.items.append(item)
            if item.origin is not None:
                self.direct += 1
            self.cond.notify()
            return True

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
            return [item for item in self.items if not isinstance(item, Stop) and wanted(item)]

    def take(self, wanted):
        """Removes and returns the queued requests for which wanted(request) is true."""
        with self.cond:
            return self._take(wanted)

    def _take(self, wanted):
        keep, out = deque(), []
        for item in self.items:
            (out if not isinstance(item, Stop) and wanted(item) else keep).append(item)
        self.items = keep
        self.direct -= sum(1 for item in out if item.origin is not None)
        return out

    def abort(self, ids, running):
        """Removes and returns the queued requests whose msg_id is in the list `ids`; the other ids
        (but `running`, the msg_id of the request that runs now) are remembered as aborted early,
        in their order (the first is forgotten first)."""
        wanted = set(ids)
        with self.cond:
            out = self._take(lambda req: req.msg_id in wanted)
            wanted.difference_update(req.msg_id for req in out)
            wanted.discard(running)
            aborts = self.early_aborts
            for msg_id in ids:
                if msg_id in wanted:
                    aborts.pop(msg_id, None)
                    aborts[msg_id] = None
            while len(aborts) > MAX_EARLY_ABORTS:
                del aborts[next(iter(aborts))]
            return out

    def stop_if_idle(self, code):
        """Queues a stop ahead of everything when the main thread is idle; False when it is busy."""
        with self.cond:
            if self.busy:
                return False
            self.items.appendleft(Stop(code))
            self.cond.notify()
            return True
