"""What DirectView and LoadBalancedView share: blocking, flags, the apply/map spellings,
and the remote / parallel decorators."""

import contextlib

from .remote import ParallelFunction, RemoteFunction


class View(object):
    _flag_names = ('block',)

    def __init__(self, client, targets):
        self.client = client
        self.targets = targets
        self.block = client.block

    def set_flags(self, **flags):
        for k, v in flags.items():
            if k not in self._flag_names:
                raise KeyError('%s has no flag %r (flags: %s)' % (type(self).__name__, k, ', '.join(self._flag_names)))
            setattr(self, k, v)

    @contextlib.contextmanager
    def temp_flags(self, **flags):
        saved = {k: getattr(self, k) for k in flags if k in self._flag_names}
        self.set_flags(**flags)
        try:
            yield
        finally:
            for k, v in saved.items():
                setattr(self, k, v)

    def _blocking(self, block):
        return self.block if block is None else block

    def _deliver(self, ar, block):
        self.client._track(ar)
        return ar.get() if self._blocking(block) else ar

    def apply(self, f, *args, **kwargs):
        """f(*args, **kwargs) on the engines; blocks (returns the result) when view.block is set, else returns an AsyncResult."""
        return self._apply(f, args, kwargs, None)

    def apply_sync(self, f, *args, **kwargs):
        return self._apply(f, args, kwargs, True)

    def apply_async(self, f, *args, **kwargs):
        return self._apply(f, args, kwargs, False)

    def map(self, f, *sequences, **kwargs):
        block = kwargs.pop('block', None)
        return self._map(f, sequences, block, **kwargs)

    def map_sync(self, f, *sequences, **kwargs):
        kwargs.pop('block', None)
        return self._map(f, sequences, True, **kwargs)

    def map_async(self, f, *sequences, **kwargs):
        kwargs.pop('block', None)
        return self._map(f, sequences, False, **kwargs)

    def imap(self, f, *sequences, **kwargs):
        """An iterator over map's results as they come."""
        kwargs.pop('block', None)
        return iter(self._map(f, sequences, False, **kwargs))

    def remote(self, block=None, **flags):
        """Decorator: calling the function applies it on the view's engines."""
        return lambda f: RemoteFunction(self, f, block, **flags)

    def parallel(self, dist='b', block=None, **flags):
        """Decorator: calling the function splits its sequence arguments across the engines and joins
        the results; `.map` maps it element by element."""
        if dist != 'b':
            raise ValueError("only dist='b' (contiguous blocks) is supported, got %r" % (dist,))
        return lambda f: ParallelFunction(self, f, block, **flags)

    def wait(self, jobs=None, timeout=-1):
        """Waits for `jobs` (default: this client's requests in flight); False when time ran out."""
        return self.client.wait(jobs, timeout)

    def abort(self, jobs=None, targets=None, block=None):
        return self.client.abort(jobs, targets if targets is not None else self._abort_targets(), block)

    def _abort_targets(self):
        return self.targets
