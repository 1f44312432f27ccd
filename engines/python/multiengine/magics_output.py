"""How %px shows an AsyncResult: `[stdout:0] line` as the engines write, `Out[0:3]: value`
per engine through IPython.display (a notebook shows it as a rich output), and a failure as
the console prints it: one `[0:execute]: ZeroDivisionError: division by zero` line per engine.
"""
import sys


def _engine_ids(ar):
    ids = getattr(ar, 'engine_ids', None)
    if ids is None:
        ids = getattr(ar, 'engine_id', None)
    if isinstance(ids, int):
        return [ids]
    return list(ids or [])


def _per_engine(ar, name):
    v = getattr(ar, name, None) or []
    if isinstance(v, str):
        return [v]
    return [s or '' for s in v]


def _label_lines(name, engine_id, text):
    if not text:
        return ''
    lines = text[:-1].split('\n') if text.endswith('\n') else text.split('\n')
    return ''.join('[%s:%s] %s\n' % (name, engine_id, line) for line in lines)


class OutputPrinter:
    """Prints what the engines of one result wrote, once each: whole lines as they come
    (flush), or everything at the end grouped by type or by engine (show_grouped)."""

    def __init__(self, ar):
        self.ar = ar
        self.shown = {'stdout': {}, 'stderr': {}}

    def _new_text(self, name, final):
        """(engine id, text not yet shown) for each engine; only whole lines until final."""
        out = []
        ids = _engine_ids(self.ar)
        for i, text in enumerate(_per_engine(self.ar, name)):
            eid = ids[i] if i < len(ids) else i
            start = self.shown[name].get(eid, 0)
            end = len(text) if final else text.rfind('\n', start) + 1
            if end > start:
                self.shown[name][eid] = end
                out.append((eid, text[start:end]))
        return out

    def flush(self, final=False):
        final = final or self.ar.ready()
        for name, stream in (('stdout', sys.stdout), ('stderr', sys.stderr)):
            for eid, text in self._new_text(name, final):
                stream.write(_label_lines(name, eid, text))
            stream.flush()

    def show_grouped(self, groupby):
        """After the run: `type` (and `order`) shows all stdout, then all stderr; `engine` one engine at a time."""
        if groupby == 'engine':
            ids = _engine_ids(self.ar)
            outs = _per_engine(self.ar, 'stdout')
            errs = _per_engine(self.ar, 'stderr')
            for i, eid in enumerate(ids):
                sys.stdout.write(_label_lines('stdout', eid, outs[i] if i < len(outs) else ''))
                sys.stderr.write(_label_lines('stderr', eid, errs[i] if i < len(errs) else ''))
                sys.stdout.flush()
                sys.stderr.flush()
            return
        self.flush(final=True)


def format_error(e):
    """A CompositeError as a heading and one line per engine; a single RemoteError as its line."""
    elist = getattr(e, 'elist', None)
    if elist is not None:
        head = 'CompositeError: one or more exceptions from call to method: %s' % getattr(e, 'method', 'execute')
        return '\n'.join([head] + [_error_line(x) for x in elist]) + '\n'
    if hasattr(e, 'ename'):
        return _error_line(e) + '\n'
    return '%s: %s\n' % (type(e).__name__, e)


def _error_line(x):
    evalue = getattr(x, 'evalue', '')
    return '[%s:%s]: %s%s' % (getattr(x, 'engine_id', '?'), getattr(x, 'method', 'execute'), getattr(x, 'ename', type(x).__name__),
                              ': %s' % evalue if evalue != '' else '')


class _Out:
    """One engine's value with ipyparallel's `Out[engine:count]:` header, for IPython.display."""

    def __init__(self, engine_id, count, text):
        self.engine_id, self.count, self.text = engine_id, count, text

    def _repr_mimebundle_(self, include=None, exclude=None):
        head = 'Out[%s:%s]: ' % (self.engine_id, self.count)
        sep = '\n' if '\n' in self.text else ''
        return {'text/plain': head + sep + self.text}, {'engine_id': self.engine_id, 'execution_count': self.count}


def _results(ar):
    """Each engine's (id, execution count, display text of the value or None), in engine order."""
    values = ar.get()
    if not isinstance(values, (list, tuple)):
        values = [values]
    return [(r.engine_id, r.execution_count, r.result) for r in values]


def show_result(ar):
    """Displays each engine's value (or prints its error) once the result is done."""
    from IPython.display import display

    try:
        results = _results(ar)
    except Exception as e:  # the engines' errors, as the console prints them; the shell goes on
        sys.stderr.write(format_error(e))
        sys.stderr.flush()
        return
    for eid, count, text in results:
        if text is not None:
            display(_Out(eid, count, text))
