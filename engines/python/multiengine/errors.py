"""The errors a client sees, with ipyparallel's names and the TypeScript client's messages
(core/client/errors.ts): an engine's exception arrives as a RemoteError (an EngineError when the
engine itself is gone); a call on several engines that fails on some of them raises a
CompositeError holding every engine's error."""

import builtins
import sys


class RemoteError(Exception):
    """An exception raised by user code on an engine, or a failure the engine reported."""

    def __init__(self, engine_id, method, ename, evalue, traceback=None):
        Exception.__init__(self, '%s: %s' % (ename, evalue))
        self.engine_id = engine_id
        self.method = method
        self.ename = ename
        self.evalue = evalue
        self.traceback = list(traceback or [])

    @property
    def engine_info(self):
        """ipyparallel's form: {'engine_id': n, 'method': m}."""
        return {'engine_id': self.engine_id, 'method': self.method}

    @property
    def remote_traceback(self):
        """The remote traceback as one text, or `ename: evalue` when the engine sent none."""
        return '\n'.join(self.traceback) if self.traceback else '%s: %s' % (self.ename, self.evalue)

    def render_traceback(self):
        """The engine's traceback as lines."""
        return self.remote_traceback.splitlines()

    def _render_traceback_(self):
        """IPython calls this by name and shows the engine's traceback instead of the local one."""
        return self.render_traceback()

    def print_traceback(self, file=None):
        print(self.remote_traceback, file=file or sys.stderr)


class EngineError(RemoteError):
    """The engine died (or never existed) before it answered; the controller answers for it."""

    def __init__(self, engine_id, method, evalue, traceback=None):
        RemoteError.__init__(self, engine_id, method, 'EngineError', evalue, traceback)


class AbortError(RemoteError):
    """The request was dropped from the engine's queue by abort() before it ran."""

    def __init__(self, engine_id, method, evalue='the request was aborted before it ran'):
        RemoteError.__init__(self, engine_id, method, 'AbortError', evalue)


class TaskTimeout(RemoteError):
    """No engine started the load-balanced task within its timeout."""


class ImpossibleDependency(RemoteError):
    """The task can never run: a dependency failed (success_only), its follow engine died, ..."""


class UnmetDependency(RemoteError):
    """No engine of the pool could import what the task requires."""


_BY_ENAME = {'TaskTimeout': TaskTimeout, 'ImpossibleDependency': ImpossibleDependency,
             'UnmetDependency': UnmetDependency}


def remote_error(engine_id, method, content):
    """The error of an error reply's content."""
    ename = str(content.get('ename', 'Error'))
    evalue = str(content.get('evalue', ''))
    tb = content.get('traceback') or []
    if ename == 'EngineError':
        return EngineError(engine_id, method, evalue, tb)
    cls = _BY_ENAME.get(ename, RemoteError)
    return cls(engine_id, method, ename, evalue, tb)


def _label(e):
    return '[%s:%s]' % (e.engine_id, e.method)


class CompositeError(RemoteError):
    """One or more engines raised; `elist` holds each engine's RemoteError, in target order."""

    def __init__(self, method, elist):
        self.elist = list(elist)
        first = self.elist[0] if self.elist else RemoteError(-1, method, 'Error', '')
        RemoteError.__init__(self, first.engine_id, method, first.ename, first.evalue, first.traceback)
        self.args = (composite_message(method, self.elist),)

    def __str__(self):
        return self.args[0]

    def raise_exception(self, excid=0):
        """Raises the excid-th engine's RemoteError, so it can be handled like a local exception."""
        if not 0 <= excid < len(self.elist):
            raise IndexError('raise_exception(%d): this CompositeError holds %d error%s'
                             % (excid, len(self.elist), '' if len(self.elist) == 1 else 's'))
        raise self.elist[excid]

    def format_tracebacks(self):
        """Each engine's traceback under an `[id:method]:` heading."""
        return '\n'.join('%s:\n%s\n' % (_label(e), e.remote_traceback) for e in self.elist)

    def print_tracebacks(self, excid=None, file=None):
        """Prints every engine's traceback (or the excid-th) to stderr, each with an `[id:method]:` heading."""
        out = file or sys.stderr
        if excid is None:
            out.write(self.format_tracebacks())
        else:
            e = self.elist[excid]
            out.write('%s:\n%s\n' % (_label(e), e.remote_traceback))

    def render_traceback(self):
        """The message under the class name, as Python prints an exception, then each engine's traceback."""
        return ('%s: %s\n\n%s' % (type(self).__name__, self, self.format_tracebacks())).splitlines()


def composite_message(method, elist):
    return '\n'.join(['one or more exceptions from call to method: %s' % method]
                     + ['%s: %s: %s' % (_label(e), e.ename, e.evalue) for e in elist])


class TimeoutError(builtins.TimeoutError):
    """Time ran out (get(timeout), wait); the work carries on and can still be waited for."""

    def __init__(self, message='Result not ready.', engine_ids=()):
        builtins.TimeoutError.__init__(self, message)
        self.engine_ids = list(engine_ids)


class ConnectionError(builtins.ConnectionError):
    """The connection to the controller could not be made, or was lost."""


class ControllerError(Exception):
    """A controller request (queue status, result, ...) answered with an error."""

    def __init__(self, request, ename, evalue):
        Exception.__init__(self, '%s: %s' % (request, evalue) if evalue else '%s failed (%s)' % (request, ename))
        self.request = request
        self.ename = ename
        self.evalue = evalue


class MessageTooLargeError(ValueError):
    """A message is bigger than the controller's maximum message size; nothing was sent."""

    def __init__(self, what, size, limit):
        ValueError.__init__(self, '%s: the message is %d bytes, more than the maximum message size of %d bytes; '
                                  'nothing was sent (send it in smaller pieces, e.g. with scatter, or raise the '
                                  "controller's --max-message-bytes)" % (what, size, limit))
        self.size = size
        self.limit = limit
