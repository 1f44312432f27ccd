"""DirectView: requests to chosen engines (ipyparallel's names): execute/run, apply, map,
push/pull, scatter/gather, dict-style access, sync_imports, abort/clear/interrupt, activate."""

import builtins
import contextlib
import sys
import types

from multiengine_python.values import Encoder, JSFunction

from .functions import definer, ship
from .partition import as_sequence, concatenate, flatten_once, map_sequences, partition
from .results import AsyncMapResult, AsyncResult
from .view import View


def encode_args(shipped, args, path):
    """apply_request content and buffers for a shipped function and its arguments (its env first)."""
    enc = Encoder()
    out = [enc.encode(x, '%s[%d]' % (path, i)) for i, x in enumerate(args)]
    if shipped.env is not None:
        env = JSFunction(shipped.env['src']) if shipped.kernel == 'node' else shipped.env
        out.insert(0, enc.encode(env, "the function's closure, defaults and keyword arguments"))
    return {'fn': shipped.src, 'args': out}, enc.buffers


class DirectView(View):
    """Requests to the engines of `targets` (an id, a list of ids, or 'all': every engine at call time)."""

    _flag_names = ('block', 'targets', 'store')

    def __init__(self, client, targets='all'):
        View.__init__(self, client, targets)
        #: The controller keeps each request's result in its task database, for get_result from
        #: any client (metadata.store); such requests go through the controller, never direct.
        self.store = False

    def _ids(self, targets, method='call'):
        return self.client.resolve_targets(self.targets if targets is None else targets, method)

    def _single(self, targets):
        t = self.targets if targets is None else targets
        return isinstance(t, int) and not isinstance(t, bool)

    def _submit(self, msg_type, content, buffers, ids, method, on_output=None):
        return self.client._dispatcher.submit(msg_type, content, buffers, ids, method, {'store': True} if self.store else None,
                                              on_output=on_output)

    def _broadcast(self, msg_type, content, buffers, ids, method, block, targets, finalize=None, on_output=None):
        work = self._submit(msg_type, content, buffers, ids, method, on_output)
        single = self._single(targets)
        return self._deliver(AsyncResult(self.client, [(work, e) for e in ids], method, finalize, single), block)

    # ---- code

    def execute(self, code, silent=False, targets=None, block=None, on_output=None):
        """Runs `code` on the engines; returns the AsyncResult (waited for, errors raised, when blocking)."""
        if not isinstance(code, str):
            raise TypeError('execute takes code as a string, got %s' % type(code).__name__)
        ids = self._ids(targets, 'execute')
        content = {'code': code, 'silent': True} if silent else {'code': code}
        work = self._submit('execute_request', content, (), ids, 'execute', on_output)
        ar = self.client._track(AsyncResult(self.client, [(work, e) for e in ids], 'execute', single=self._single(targets)))
        if self._blocking(block):
            ar.get()
        return ar

    def run(self, filename, targets=None, block=None):
        """Runs a local file's code on the engines."""
        with open(filename) as f:
            return self.execute(f.read(), targets=targets, block=block)

    def _apply(self, f, args, kwargs, block, targets=None, method='apply'):
        ids = self._ids(targets, method)
        kernels = set(self.client.kernel_of(i) for i in ids)
        if len(kernels) > 1:
            return self._per_engine(f, ids, [args] * len(ids), kwargs, block, method, None, single=self._single(targets))
        shipped = ship(f, kernels.pop(), kwargs, engine_id=ids[0])
        content, buffers = encode_args(shipped, args, method + '.args')
        return self._broadcast('apply_request', content, buffers, ids, method, block, targets)

    def _per_engine(self, f, ids, calls, kwargs, block, method, finalize, mapping=False, single=False):
        """One apply_request per engine, with its own arguments; the function shipped once per language."""
        shipped = {}
        parts = []
        for eid, args in zip(ids, calls):
            kernel = self.client.kernel_of(eid)
            if kernel not in shipped:
                shipped[kernel] = ship(f, kernel, kwargs, mapping, eid)
            content, buffers = encode_args(shipped[kernel], args, method + '.args')
            parts.append((self._submit('apply_request', content, buffers, [eid], method), eid))
        cls = AsyncMapResult if mapping else AsyncResult
        ar = cls(self.client, parts, method, finalize) if mapping else cls(self.client, parts, method, finalize, single)
        return self._deliver(ar, block)

    def _map(self, f, sequences, block, targets=None):
        seqs, _ = map_sequences(sequences)
        ids = self._ids(targets, 'map')
        blocks = [partition(s, len(ids)) for s in seqs]
        calls = [[b[i] for b in blocks] for i in range(len(ids))]
        return self._per_engine(f, ids, calls, None, block, 'map', flatten_once, mapping=True)

    # ---- values

    def push(self, ns, targets=None, block=None):
        """Binds each name of the dict `ns` to its value on the engines. A function goes to
        Python engines as its source (as apply sends it) and is defined there under its name."""
        if not isinstance(ns, dict) or not all(isinstance(k, str) for k in ns):
            raise TypeError('push takes a dict of names and values, got %r' % (type(ns).__name__,))
        ids = self._ids(targets, 'push')
        enc = Encoder()
        functions = {k: v for k, v in ns.items() if isinstance(v, types.FunctionType)}
        if functions and all(self.client.kernel_of(i) == 'python' for i in ids):
            # One request: the values bound, then the functions defined from their source.
            values = [[k, enc.encode(v, k)] for k, v in ns.items() if k not in functions]
            src, envs = definer(functions, with_values=True)
            content = {'fn': src, 'args': [{'$t': 'object', 'v': values}, enc.encode(envs, "the functions' closures and defaults")]}
            return self._broadcast('apply_request', content, enc.buffers, ids, 'push', block, targets)
        tree = {k: enc.encode(v, k) for k, v in ns.items()}
        return self._broadcast('push_request', {'ns': tree}, enc.buffers, ids, 'push', block, targets)

    update = push

    def pull(self, names, targets=None, block=None):
        """The value of `names` (a name, or a list of names) on each engine."""
        one = isinstance(names, str)
        names_list = [names] if one else list(names)
        if not all(isinstance(n, str) for n in names_list):
            raise TypeError('pull takes a name or a list of names, got %r' % (names,))
        ids = self._ids(targets, 'pull')
        single = self._single(targets)

        def finalize(values):
            vals = [v[0] for v in values] if one else values
            return vals[0] if single else vals
        return self._broadcast('pull_request', {'names': names_list}, (), ids, 'pull', block, targets, finalize)

    def get(self, key_s):
        return self.pull(key_s, block=True)

    def __getitem__(self, key):
        if isinstance(key, str):
            return self.get(key)
        raise TypeError('view[...] takes a variable name (a str), got %r' % (key,))

    def __setitem__(self, key, value):
        self.update({key: value}, block=True)

    def scatter(self, key, seq, dist='b', flatten=False, targets=None, block=None):
        """Splits `seq` into one contiguous block per engine and binds `key` to it there; with
        `flatten`, a block of one element is bound to that element."""
        if dist != 'b':
            raise ValueError("only dist='b' (contiguous blocks) is supported, got %r" % (dist,))
        seq = as_sequence(seq, 'scatter %s' % key)
        ids = self._ids(targets, 'scatter')
        parts = []
        for eid, blk in zip(ids, partition(seq, len(ids))):
            value = blk[0] if flatten and len(blk) == 1 else blk
            enc = Encoder()
            tree = {key: enc.encode(value, key)}
            parts.append((self._submit('push_request', {'ns': tree}, enc.buffers, [eid], 'scatter'), eid))
        return self._deliver(AsyncResult(self.client, parts, 'scatter', lambda v: None), block)

    def gather(self, key, dist='b', targets=None, block=None):
        """The engines' values of `key` joined in engine order (the inverse of scatter)."""
        if dist != 'b':
            raise ValueError("only dist='b' (contiguous blocks) is supported, got %r" % (dist,))
        ids = self._ids(targets, 'gather')
        return self._broadcast('pull_request', {'names': [key]}, (), ids, 'gather', block, None,
                               lambda values: concatenate([v[0] for v in values]))

    # ---- engine state

    def clear(self, targets=None, block=None):
        """Empties the engines' namespaces."""
        ids = self._ids(targets, 'clear')
        return self._broadcast('clear_request', {}, (), ids, 'clear', block, targets)

    def keys(self, targets=None, block=True):
        """The user-defined names on each engine."""
        ids = self._ids(targets, 'keys')
        return self._broadcast('keys_request', {}, (), ids, 'keys', block, targets)

    def interrupt(self, targets=None):
        """Interrupts the code running on the engines (KeyboardInterrupt there); they stay up."""
        self.client.interrupt(self._ids(targets, 'interrupt'))

    def _abort_targets(self):
        return self._ids(None, 'abort')

    @contextlib.contextmanager
    def sync_imports(self, local=True, quiet=False):
        """`with view.sync_imports(): import numpy` imports numpy here and on the engines."""
        caller = sys._getframe(2).f_globals
        real = builtins.__import__
        view = self

        def view_import(name, globals=None, locals=None, fromlist=(), level=0):
            mod = real(name, globals, locals, fromlist, level) if local else None
            if globals is caller and level == 0 and getattr(view_import, 'depth', 0) == 0:
                stmt = 'from %s import %s' % (name, ', '.join(fromlist)) if fromlist else 'import %s' % name
                if not quiet:
                    print('importing %s on engine(s)' % (', '.join(fromlist) + ' from ' + name if fromlist else name))
                view_import.depth = 1
                try:
                    view.execute(stmt, block=True)
                finally:
                    view_import.depth = 0
            return mod
        builtins.__import__ = view_import
        try:
            yield
        finally:
            builtins.__import__ = real

    def activate(self, suffix=''):
        """Registers the %px magics (%px, %%px, %autopx, %pxresult, %pxconfig, with `suffix`) in
        IPython for this view: multiengine.magics.register(view, suffix)."""
        from . import magics
        return magics.register(self, suffix)

    def __len__(self):
        return len(self._ids(None, 'len'))

    def __repr__(self):
        t = self.targets
        return '<DirectView %s>' % (t if t != 'all' else 'all')
