"""Functions bound to a view: @view.remote (each call applies the function on the view's
engines) and @view.parallel (each call splits its sequence arguments across them)."""

import functools

from .partition import concatenate, is_sequence, partition


class RemoteFunction(object):
    def __init__(self, view, f, block=None, **flags):
        self.view = view
        self.func = f
        self.block = block
        self.flags = flags
        functools.update_wrapper(self, f, updated=()) if callable(f) else None

    def __call__(self, *args, **kwargs):
        with self.view.temp_flags(**self.flags):
            return self.view._apply(self.func, args, kwargs, self.block)

    def map(self, *sequences):
        with self.view.temp_flags(**self.flags):
            return self.view._map(self.func, sequences, self.block)


class ParallelFunction(RemoteFunction):
    def __call__(self, *args, **kwargs):
        view = self.view
        with view.temp_flags(**self.flags):
            if not hasattr(view, '_per_engine'):  # a load-balanced view: elementwise, as ipyparallel does
                return view._map(self.func, args, self.block)
            ids = view._ids(None)
            split = [partition(a, len(ids)) if is_sequence(a) else None for a in args]
            calls = [[s[i] if s is not None else a for s, a in zip(split, args)] for i in range(len(ids))]
            return view._per_engine(self.func, ids, calls, kwargs, self.block, 'apply', concatenate)
