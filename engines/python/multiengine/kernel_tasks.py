"""IPython 0.10's TaskClient, StringTask and MapTask, as a thin layer over a LoadBalancedView::

    tc = client.TaskClient()
    tid = tc.run(client.StringTask('c = a*b', push=dict(a=10, b=30), pull='c'))
    tc.get_task_result(tid, block=True)        # TaskResult[ID:0]:{'c': 300}
    tc.get_task_result(tc.run(client.MapTask(f, args=(2,))), block=True)   # f(2)

Task ids are small integers, as then; each names one load-balanced task of the controller's
scheduler (docs/protocol.md section 14). A StringTask runs in the namespace of the engine that
takes it; its `pull` names come back in a TaskResult. Not carried over: `depend` (a function the
engine evaluated) and `recovery_task`; asking for them is an error that says so.
"""
from .client import Client
from .errors import RemoteError


def _string_task(code, push, pull, clear_before, clear_after):
    """Runs on the engine, in its namespace (globals() is the namespace there)."""
    ns = globals()

    def clear():
        for k in [k for k in ns if not k.startswith('__')]:
            del ns[k]
    if clear_before:
        clear()
    ns.update(push)
    exec(code, ns)
    missing = [name for name in pull if name not in ns]
    if missing:
        raise NameError('name %r is not defined (the task pulls it)' % missing[0])
    out = dict((name, ns[name]) for name in pull)
    if clear_after:
        clear()
    return out


class _Task(object):
    def __init__(self, clear_before=False, clear_after=False, retries=0, recovery_task=None, depend=None):
        if recovery_task is not None:
            raise ValueError('recovery_task is not supported: use retries=N (the task runs again, on any engine)')
        if depend is not None:
            raise ValueError('depend is not supported: run the task after others with '
                             'load_balanced_view().set_flags(after=[...]) instead')
        if not isinstance(retries, int) or isinstance(retries, bool) or retries < 0:
            raise ValueError('retries must be a whole number >= 0, got %r' % (retries,))
        self.clear_before, self.clear_after, self.retries = bool(clear_before), bool(clear_after), retries


class StringTask(_Task):
    """Code to run on one engine: `push` (a dict) is bound first; `pull` (a name or names) comes back."""

    def __init__(self, expression, pull=None, push=None, **kwargs):
        _Task.__init__(self, **kwargs)
        if not isinstance(expression, str):
            raise TypeError('StringTask runs code given as a str, got %r' % (expression,))
        if push is not None and not isinstance(push, dict):
            raise TypeError('push must be a dict of names and values, got %r' % (push,))
        pull = [] if pull is None else [pull] if isinstance(pull, str) else list(pull)
        if not all(isinstance(p, str) for p in pull):
            raise TypeError('pull must be a variable name or a list of names, got %r' % (pull,))
        self.expression, self.pull, self.push = expression, pull, dict(push or {})

    def _submit(self, view):
        return view.apply_async(_string_task, self.expression, self.push, self.pull, self.clear_before, self.clear_after)


class MapTask(_Task):
    """function(*args, **kwargs) on one engine; its result is the function's value."""

    def __init__(self, function, args=None, kwargs=None, **flags):
        _Task.__init__(self, **flags)
        if self.clear_before or self.clear_after:
            raise ValueError('clear_before and clear_after are supported for StringTask only')
        if not callable(function):
            raise TypeError('MapTask needs a function, got %r' % (function,))
        self.function, self.args, self.kwargs = function, tuple(args or ()), dict(kwargs or {})

    def _submit(self, view):
        return view.apply_async(self.function, *self.args, **self.kwargs)


class _Namespace(object):
    def __init__(self, values):
        self.__dict__.update(values)

    def __repr__(self):
        return 'Namespace(%r)' % self.__dict__


class TaskResult(object):
    """A StringTask's outcome: `results` (the pulled names), `ns.name`, `tr['name']`, `engineid`,
    `taskid`, `failure` (the remote error, or None) and `raise_exception()`."""

    def __init__(self, taskid, results, engineid, failure=None):
        self.taskid, self.results, self.engineid, self.failure = taskid, results or {}, engineid, failure
        self.ns = _Namespace(self.results)

    engine_id = property(lambda self: self.engineid)

    def raise_exception(self):
        if self.failure is not None:
            raise self.failure

    def __getitem__(self, key):
        self.raise_exception()
        return self.results[key]

    def __repr__(self):
        if self.failure is not None:
            return 'TaskResult[ID:%r]:%s' % (self.taskid, self.failure)
        return 'TaskResult[ID:%r]:%r' % (self.taskid, self.results)


class TaskClient(object):
    """IPython 0.10's TaskClient over a multiengine Client's load-balanced view."""

    def __init__(self, furl_or_file='', profile='default', **kwargs):
        self._rc = Client(url_file=furl_or_file or None, profile=profile, **kwargs)
        self._tasks = []  # (task, AsyncResult) by task id

    def _view(self, task):
        view = self._rc.load_balanced_view()
        view.retries = task.retries
        return view

    def run(self, task, block=False):
        """Submits `task`; its task id (or, with block=True, its result)."""
        if not isinstance(task, _Task):
            raise TypeError('run takes a StringTask or a MapTask, got %r' % (task,))
        self._tasks.append((task, task._submit(self._view(task))))
        tid = len(self._tasks) - 1
        return self.get_task_result(tid, block=True) if block else tid

    def _entry(self, taskid):
        if not isinstance(taskid, int) or isinstance(taskid, bool) or not 0 <= taskid < len(self._tasks) \
                or self._tasks[taskid] is None:
            raise KeyError('no task with id %r (this TaskClient ran %d tasks, ids from 0; clear() forgets finished ones)'
                           % (taskid, len(self._tasks)))
        return self._tasks[taskid]

    def get_task_result(self, taskid, block=False):
        """The result of a task; None while it runs and block is False. A MapTask's error is
        raised; a StringTask's comes as the TaskResult's `failure`."""
        task, ar = self._entry(taskid)
        if not block and not ar.ready():
            return None
        if isinstance(task, MapTask):
            return ar.get()
        try:
            return TaskResult(taskid, ar.get(), ar.engine_id)
        except RemoteError as e:
            return TaskResult(taskid, None, ar.engine_id, e)

    def barrier(self, taskids):
        """Waits until every task of `taskids` (an id or a list) has finished."""
        for tid in [taskids] if isinstance(taskids, int) else list(taskids):
            self._entry(tid)[1].wait()

    def spin(self):
        """Nothing to do: results come in as they are ready."""

    def queue_status(self, verbose=False):
        """{'scheduled': tasks the scheduler has not placed yet, 'pending': this client's unfinished
        tasks, 'succeeded': n, 'failed': n}."""
        status = {'scheduled': self._rc.queue_status().get('unassigned', 0), 'pending': 0, 'succeeded': 0, 'failed': 0}
        for entry in self._tasks:
            if entry is None:
                continue
            ar = entry[1]
            if not ar.ready():
                status['pending'] += 1
            else:
                status['succeeded' if ar.successful() else 'failed'] += 1
        return status

    def abort(self, taskid):
        """Drops a task that has not started yet (its result is then an aborted error)."""
        ar = self._entry(taskid)[1]
        if not ar.ready():
            self._rc.abort([ar], block=False)

    def clear(self):
        """Forgets the finished tasks (their ids are not reused)."""
        self._tasks = [e if e is not None and not e[1].ready() else None for e in self._tasks]

    def map(self, func, *sequences):
        """func over the zipped sequences, one load-balanced task per element; the list of results."""
        return self._rc.load_balanced_view().map_sync(func, *sequences)

    def parallel(self):
        """A decorator: calling the function maps it over its sequence arguments (as map)."""
        tc = self

        def wrap(f):
            def pf(*sequences):
                return tc.map(f, *sequences)
            pf.__name__, pf.__doc__ = getattr(f, '__name__', 'parallel_function'), f.__doc__
            return pf
        return wrap

    def close(self):
        self._rc.close()
