"""The IPython.kernel generation's interface (IPython 0.9/0.10), as a thin layer over Client.

Code from those tutorials runs unchanged apart from the import line::

    from multiengine.kernel import client      # was: from IPython.kernel import client
    mec = client.MultiEngineClient()
    mec.execute('a=5')                         # <Results List> / [0] In [1]: a=5 / …

Every call takes `targets` and `block` as those clients did (defaults: the attributes
`mec.targets`, 'all', and `mec.block`, True); with block=False a call returns a PendingResult.
Results are lists with one entry per target, as they were then. `client.TaskClient()` with
`StringTask` and `MapTask` is the load-balanced side (kernel_tasks.py).
"""
import sys
import textwrap

from . import Client
from .errors import CompositeError, EngineError, RemoteError, TimeoutError  # noqa: F401  (client.CompositeError)
from .functions import definer
from .kernel_tasks import MapTask, StringTask, TaskClient, TaskResult

__all__ = ['MultiEngineClient', 'PendingResult', 'ResultList', 'get_multiengine_client',
           'TaskClient', 'StringTask', 'MapTask', 'TaskResult', 'get_task_client',
           'CompositeError', 'RemoteError', 'EngineError', 'TimeoutError']

# `from multiengine.kernel import client` names this module, as IPython.kernel.client did.
client = sys.modules[__name__]


class ResultList(list):
    """execute's per-engine records, as IPython 0.10 made them ({'input': {'translated', 'raw'},
    'number', 'id'}, with 'stdout' and 'stderr' when there was any) and printed them:
    `[0] In [1]: code`, then `[0] Out[1]: output` when there is any."""

    def __repr__(self):
        out = ['<Results List>\n']
        for cmd in self:
            eid, num, code = cmd['id'], cmd['number'], cmd['input']
            out.append('[%s] In [%s]: %s\n' % (eid, num, code['raw'] if isinstance(code, dict) else code))
            if cmd.get('stdout'):
                out.append('[%s] Out[%s]: %s\n' % (eid, num, cmd['stdout']))
            if cmd.get('stderr'):
                out.append('[%s] Err[%s]:\n %s' % (eid, num, cmd['stderr']))
        return ''.join(out)

    __str__ = __repr__

    def _repr_pretty_(self, p, cycle):
        p.text(repr(self))


class PendingResult:
    """A result not yet ready (block=False). get_result(default, block) returns it, or default
    while it runs and block is False; an error is raised again by every later call. `.r` blocks."""

    def __init__(self, async_result, convert=None):
        self._ar = async_result
        self._convert = convert
        self._done = False
        self._value = None
        self._error = None
        self.callbacks = []

    @property
    def result_id(self):
        ids = getattr(self._ar, 'msg_ids', None)
        return ids[0] if ids else id(self)

    def get_result(self, default=None, block=True):
        if not self._done:
            if not block and not self._ar.ready():
                return default
            try:
                value = self._ar.get()
                if self._convert is not None:
                    value = self._convert(value)
                for f, args, kwargs in self.callbacks:
                    value = f(value, *args, **kwargs)
                self._value = value
            except Exception as e:
                self._error = e
            self._done = True
        if self._error is not None:
            raise self._error
        return self._value

    def add_callback(self, f, *args, **kwargs):
        """f(result, *args, **kwargs) replaces the result; callbacks chain in order."""
        if not callable(f):
            raise TypeError('add_callback needs a callable, got %r' % (f,))
        self.callbacks.append((f, args, kwargs))

    @property
    def r(self):
        return self.get_result(block=True)


def _listed(value, n):
    """Results as one list entry per target, as the old clients returned them."""
    if n == 1 and not isinstance(value, list):
        return [value]
    return list(value)


class MultiEngineClient:
    """IPython 0.10's blocking MultiEngineClient over a multiengine Client."""

    def __init__(self, furl_or_file='', profile='default', **kwargs):
        self._rc = Client(url_file=furl_or_file or None, profile=profile, **kwargs)
        self.block = True
        self.targets = 'all'

    # ---- plumbing: a view of the chosen engines, and blocking or a PendingResult

    def _ids(self, targets):
        targets = self.targets if targets is None else targets
        if targets == 'all':
            return list(self._rc.ids)
        if isinstance(targets, int) and not isinstance(targets, bool):
            return [targets]
        if isinstance(targets, (list, tuple)) and all(isinstance(t, int) and not isinstance(t, bool) for t in targets):
            return list(targets)
        raise ValueError("targets must be 'all', an engine id or a list of engine ids, got %r" % (targets,))

    def _view(self, targets, block=None):
        """The view of `targets`; `block` is checked here, before anything is sent."""
        block = self.block if block is None else block
        if block not in (True, False):
            raise ValueError('block must be True or False, got %r' % (block,))
        targets = self.targets if targets is None else targets
        return self._rc.direct_view('all' if targets == 'all' else self._ids(targets))

    def _run(self, ar, block, convert=None):
        block = self.block if block is None else block
        pending = PendingResult(ar, convert)
        return pending.get_result(block=True) if block else pending

    # ---- the interface

    def get_ids(self):
        return list(self._rc.ids)

    def __len__(self):
        return len(self._rc.ids)

    def execute(self, lines, targets=None, block=None):
        """Runs `lines` on each target; the result prints per engine (see ResultList)."""
        view = self._view(targets, block)
        ids = self._ids(targets)
        ar = view.execute(lines, block=False)

        def records(results):
            results = _listed(results, len(ids))
            outs, errs = _listed(ar.stdout, len(ids)), _listed(ar.stderr, len(ids))
            return ResultList(_record(ids[i], lines, r, outs[i], errs[i]) for i, r in enumerate(results))

        return self._run(ar, block, records)

    def push(self, namespace, targets=None, block=None):
        n = len(self._ids(targets))
        return self._run(self._view(targets, block).push(namespace, block=False), block, lambda _: [None] * n)

    def push_function(self, namespace, targets=None, block=None):
        """Defines each function of `namespace` on the engines under its key: its source is
        sent (as apply sends a function), with its closure's values and defaults."""
        n = len(self._ids(targets))
        return self._run(self._view(targets, block).apply_async(*definer(namespace)), block, lambda _: [None] * n)

    def pull(self, keys, targets=None, block=None):
        n = len(self._ids(targets))
        if isinstance(keys, tuple):
            keys = list(keys)
        return self._run(self._view(targets, block).pull(keys, block=False), block, lambda v: _listed(v, n))

    def pull_function(self, keys, targets=None, block=None):
        """The functions push_function defined under `keys`, one per target (a list per target for
        several keys), made again here from the source it sent; the globals they name resolve in
        this session's namespace (__main__), as the 0.10 client's did."""
        names = [keys] if isinstance(keys, str) else list(keys) if isinstance(keys, (list, tuple)) else None
        if not names or not all(isinstance(k, str) and k.isidentifier() for k in names):
            raise ValueError('pull_function needs a variable name or a list of them, got %r' % (keys,))
        ids = self._ids(targets)
        ar = self._view(targets, block).apply_async(_PUSHED, *names)

        def functions(per_engine):
            out = [[_rebuilt(spec, k, ids[i]) for k, spec in zip(names, specs)]
                   for i, specs in enumerate(_listed(per_engine, len(ids)))]
            return [fs[0] for fs in out] if isinstance(keys, str) else out

        return self._run(ar, block, functions)

    def zip_pull(self, keys, targets=None, block=None):
        """pull(keys) turned around: one tuple per key, with each engine's value."""
        n = len(self._ids(targets))
        keys = list(keys)
        ar = self._view(targets, block).pull(keys, block=False)
        return self._run(ar, block, lambda v: list(zip(*_listed(v, n))))

    def scatter(self, key, seq, dist='b', flatten=False, targets=None, block=None):
        n = len(self._ids(targets))
        ar = self._view(targets, block).scatter(key, seq, dist=dist, flatten=flatten, block=False)
        return self._run(ar, block, lambda _: [None] * n)

    def gather(self, key, dist='b', targets=None, block=None):
        return self._run(self._view(targets, block).gather(key, dist=dist, block=False), block)

    def map(self, func, *sequences, **kwargs):
        """map(func, seq, dist='b', targets=None, block=None): func over seq, split across the targets."""
        targets, block = kwargs.pop('targets', None), kwargs.pop('block', None)
        kwargs.pop('dist', None)
        if kwargs:
            raise TypeError('map() got unexpected keyword arguments: %s' % ', '.join(sorted(kwargs)))
        return self._run(self._view(targets, block).map_async(func, *sequences), block, list)

    def parallel(self, dist='b', targets=None, block=None):
        """A decorator: calling the function maps it over its sequence argument on the targets."""
        mec = self

        def wrap(f):
            def pf(*sequences):
                return mec.map(f, *sequences, targets=targets, block=block)

            pf.__name__ = getattr(f, '__name__', 'parallel_function')
            pf.__doc__ = f.__doc__
            return pf

        return wrap

    def barrier(self, pending_results):
        """Waits for each PendingResult in turn; an error is kept for its own get_result to raise."""
        for pr in pending_results:
            try:
                pr.get_result(block=True)
            except Exception:
                pass

    def keys(self, targets=None, block=None):
        """The names defined on each target: one sorted list per engine."""
        return self._run(self._view(targets).keys(block=False), block, list)

    def reset(self, targets=None, block=None):
        """Empties the namespaces of the targets."""
        n = len(self._ids(targets))
        return self._run(self._view(targets).clear(block=False), block, lambda _: [None] * n)

    def kill(self, controller=False, targets=None, block=None):
        """Stops the target engines; with controller=True the controller too (and every engine)."""
        if controller:
            self._rc.shutdown(hub=True)
            return None
        self._rc.shutdown(targets=self._ids(targets))
        return None

    def queue_status(self, targets=None, block=None):
        """[(engine id, {'queue': waiting, 'running': 0|1, 'completed': n, 'tasks': ...}), ...] per target."""
        status = self._rc.queue_status()
        return [(eid, status.get(eid, {})) for eid in self._ids(targets)]

    def clear_queue(self, targets=None, block=None):
        """Drops the requests still waiting on the targets (the running ones go on)."""
        self._rc.abort(targets=self._ids(targets), block=False)
        return None

    def activate(self):
        """Makes %px, %autopx and %result shortcuts to this client's execute, as in IPython 0.10."""
        from .magics import _ipython

        shell = _ipython()
        if shell is None:
            raise RuntimeError('mec.activate() works only inside IPython (get_ipython() found no shell)')
        from .kernel_magics import register

        register(shell, self)

    def __setitem__(self, key, value):
        self.push({key: value}, targets='all', block=True)

    def __getitem__(self, key):
        if not isinstance(key, str):
            raise TypeError('mec[key] takes a variable name (a str), got %r' % (key,))
        return self.pull(key, targets='all', block=True)

    def close(self):
        self._rc.close()


# Run on the engines by pull_function: what push_function kept on each named function.
_PUSHED = 'lambda *names: [getattr(globals().get(n), "__multiengine_push__", None) for n in names]'


def _rebuilt(spec, key, engine_id):
    """A function made here from (block, name, env) as push_function sent it, its globals __main__'s."""
    if not spec:
        raise ValueError('pull_function(%r): engine %s has no function %r that push_function defined'
                         % (key, engine_id, key))
    block, name, env = spec
    local = {}
    exec('def __me_pull_function(__me_env):\n%s\n    return %s\n' % (textwrap.indent(block, '    '), name),
         sys.modules['__main__'].__dict__, local)
    f = local['__me_pull_function'](env)
    f.__qualname__ = f.__name__
    return f


def _record(engine_id, lines, reply, stdout, stderr):
    """One engine's execute reply as the 0.10 record (its keys in that order, as the tutorial
    prints them): its stdout, then the value as IPython shows it."""
    value = getattr(reply, 'result', None)
    if value is not None:
        stdout = (stdout or '') + value + '\n'
    record = {'input': {'translated': lines, 'raw': lines}, 'number': getattr(reply, 'execution_count', None),
              'id': engine_id}
    if stdout:
        record['stdout'] = stdout
    if stderr:
        record['stderr'] = stderr
    return record


def get_multiengine_client(furl_or_file=''):
    return MultiEngineClient(furl_or_file)


def get_task_client(furl_or_file=''):
    return TaskClient(furl_or_file)
