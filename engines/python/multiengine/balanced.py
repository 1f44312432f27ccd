"""LoadBalancedView: tasks the controller's scheduler places (docs/protocol.md section 14), with
ipyparallel's flags: retries, timeout, after, follow, success_only, targets, label, chunksize,
ordered."""

import uuid

from .directview import encode_args
from .functions import ship
from .partition import flatten_once, map_sequences
from .results import AsyncMapResult, AsyncResult
from .view import View


def _kernel_of(f):
    """The language of the engines that can run `f` (None: any, e.g. source whose language is unclear)."""
    if callable(f):
        return 'python'
    s = f.strip()
    if s.startswith(('lambda', 'def ', 'async def ')):
        return 'python'
    if '=>' in s or s.startswith(('function', 'async function', '(')):
        return 'node'
    return None


class LoadBalancedView(View):
    _flag_names = ('block', 'targets', 'retries', 'timeout', 'after', 'follow', 'success_only', 'label',
                   'chunksize', 'ordered', 'store')

    def __init__(self, client, targets=None):
        View.__init__(self, client, targets)
        self.retries = 0
        self.timeout = None
        self.after = None
        self.follow = None
        self.success_only = False
        self.label = None
        self.chunksize = 1
        self.ordered = True
        #: The controller keeps each task's result in its task database, for get_result from any client.
        self.store = False

    def _dependencies(self, deps, name):
        """msg_ids of `deps` (AsyncResults, msg_ids) and how the direct requests among them ended."""
        if deps is None or deps == []:
            return [], []
        items = deps if isinstance(deps, (list, tuple, set)) else [deps]
        ids, direct = [], []
        d = self.client._dispatcher
        for item in items:
            if isinstance(item, AsyncResult):
                # A direct request never passes the controller: wait for it, then say how it ended.
                for w, _ in item._parts:
                    ids.append(w.msg_id)
                    if w.targets is not None:
                        d.wait_for(lambda: w.done)
                        direct.append({'msg_id': w.msg_id, 'engines': list(w.order),
                                       'ok': all(r[0].get('status') == 'ok' for r in w.replies.values())})
            elif isinstance(item, str):
                ids.append(item)
            else:
                raise TypeError('%s takes AsyncResults or msg_ids, got %r' % (name, item))
        return ids, direct

    def _balanced(self, f):
        b = {}
        if self.targets is not None:
            b['pool'] = self.client.resolve_targets(self.targets, 'load-balanced task')
        if self.retries:
            if not isinstance(self.retries, int) or self.retries < 0:
                raise ValueError('retries must be a whole number >= 0, got %r' % (self.retries,))
            b['retries'] = self.retries
        if self.timeout is not None and self.timeout > 0:
            b['timeout_ms'] = max(1, int(self.timeout * 1000))
        after, d1 = self._dependencies(self.after, 'after')
        follow, d2 = self._dependencies(self.follow, 'follow')
        if after:
            b['after'] = after
        if follow:
            b['follow'] = follow
        if d1 or d2:
            b['direct'] = d1 + d2
        if self.success_only:
            b['success_only'] = True
        if self.label is not None:
            b['label'] = str(self.label)
        if self.store:
            b['store'] = True
        kernel = _kernel_of(f)
        if kernel:
            b['kernel'] = kernel
        return b, kernel

    def _task(self, f, args, kwargs, mapping, method, map_info=None):
        balanced, kernel = self._balanced(f)
        if map_info is not None:
            balanced['map'] = map_info
        shipped = ship(f, kernel or 'python', kwargs, mapping)
        content, buffers = encode_args(shipped, args, method + '.args')
        return self.client._dispatcher.submit('apply_request', content, buffers, None, method, {'balanced': balanced})

    def _apply(self, f, args, kwargs, block):
        work = self._task(f, args, kwargs, False, 'apply')
        return self._deliver(AsyncResult(self.client, [(work, None)], 'apply', single=True), block)

    def _map(self, f, sequences, block, chunksize=None, ordered=None):
        """f over the zipped sequences, `chunksize` elements per task."""
        seqs, length = map_sequences(sequences)
        chunk = self.chunksize if chunksize is None else chunksize
        if not isinstance(chunk, int) or chunk < 1:
            raise ValueError('chunksize must be a whole number >= 1, got %r' % (chunk,))
        # Every task of the map carries the same {id, items, chunk}: watchers (the app's Progress) count its items.
        map_info = {'id': str(uuid.uuid4()), 'items': length, 'chunk': chunk}
        parts = []
        for start in range(0, length, chunk):
            args = [s[start:start + chunk] for s in seqs]
            parts.append((self._task(f, [list(a) if isinstance(a, range) else a for a in args], None, True, 'map', map_info), None))
        ar = AsyncMapResult(self.client, parts, 'map', flatten_once, self.ordered if ordered is None else ordered)
        return self._deliver(ar, block)

    def abort(self, jobs=None, targets=None, block=None):
        """Drops tasks that have not started (default: every one this client has in flight)."""
        if jobs is None:
            jobs = [m for m, w in self.client._dispatcher.pending.items() if w.targets is None and w.method]
            if not jobs:
                return None
        return self.client.abort(jobs, targets, block)

    def __repr__(self):
        return '<LoadBalancedView %s>' % ('any engine' if self.targets is None else self.targets)
