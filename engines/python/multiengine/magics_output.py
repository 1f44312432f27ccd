"""How %px and AsyncResult.display_outputs show a result: `[stdout:0] line` as the engines
write, each engine's display() outputs under `[output:0]`, and `Out[0:3]: value` per engine, in
every format the value has (IPython.display.publish_display_data: a notebook shows HTML, images,
…; a terminal the text), and a failure as the console prints it: one
`[0:execute]: ZeroDivisionError: division by zero` line per engine.
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
        """After the run, as ipyparallel's display_outputs: `type` shows all stdout, then all
        stderr, then each engine's display() outputs and values; `engine` one engine at a time
        (its stdout, stderr, outputs, value); `order` as `type`, but the outputs collated: the
        first of every engine, then the second of every engine, and so on."""
        if groupby == 'engine':
            ids = _engine_ids(self.ar)
            outs = _per_engine(self.ar, 'stdout')
            errs = _per_engine(self.ar, 'stderr')
            displays = _outputs(self.ar)
            results = _results_or_error(self.ar)
            for i, eid in enumerate(ids):
                sys.stdout.write(_label_lines('stdout', eid, outs[i] if i < len(outs) else ''))
                sys.stderr.write(_label_lines('stderr', eid, errs[i] if i < len(errs) else ''))
                sys.stdout.flush()
                sys.stderr.flush()
                _show_engine_outputs(eid, displays[i] if i < len(displays) else [], results.get(eid))
            results.report()
            return
        self.flush(final=True)
        self.show_rich('order' if groupby == 'order' else 'type')

    def show_rich(self, groupby='type'):
        """The display() outputs under `[output:N]` headings (collated for `order`), then the values."""
        ids = _engine_ids(self.ar)
        displays = _outputs(self.ar)
        if groupby == 'order':
            for k in range(max([len(d) for d in displays] or [0])):
                for eid, d in zip(ids, displays):
                    if k < len(d):
                        _show_engine_outputs(eid, [d[k]], None)
        else:
            for eid, d in zip(ids, displays):
                _show_engine_outputs(eid, d, None)
        results = _results_or_error(self.ar)
        for eid in ids:
            r = results.get(eid)
            if r is not None:
                _show_value(r)
        results.report()


def _outputs(ar):
    got = getattr(ar, 'outputs', None) or []
    if getattr(ar, '_single', False) or (got and isinstance(got[0], dict)):
        return [got]
    return [list(o or []) for o in got]


def _ipython():
    """The running IPython shell, or None (IPython is not imported just to look)."""
    if 'IPython' not in sys.modules:
        return None
    from IPython import get_ipython
    return get_ipython()


def _show_engine_outputs(eid, outputs, value):
    """`[output:N]` and the engine's display() bundles, then its value (headed `Out[N:count]`)."""
    if outputs:
        _publish({'text/plain': '[output:%s]' % eid}, {})
    for o in outputs:
        md = dict(o.get('metadata') or {})
        md['engine'] = eid
        _publish(o['data'], md)
    if value is not None:
        _show_value(value)


def _publish(data, metadata):
    """A bundle to the notebook (every format) or, outside IPython, its text to stdout."""
    if _ipython() is not None:
        from IPython.display import publish_display_data
        publish_display_data(data, metadata)
        return
    text = data.get('text/plain')
    if isinstance(text, str):
        sys.stdout.write(text + ('' if text.endswith('\n') else '\n'))
        sys.stdout.flush()


def _show_value(reply):
    data, md = reply._repr_mimebundle_()
    _publish(data, md)


class _Results(dict):
    """{engine id: ExecuteReply with a value}; the error that kept them, reported once."""
    error = None

    def report(self):
        if self.error is not None:
            sys.stderr.write(format_error(self.error))
            sys.stderr.flush()


def _results_or_error(ar):
    got = _Results()
    try:
        values = ar.get()
    except Exception as e:  # the engines' errors, as the console prints them; the shell goes on
        got.error = e
        return got
    for r in values if isinstance(values, (list, tuple)) else [values]:
        if getattr(r, 'execute_result', None) is not None:
            got[r.engine_id] = r
    return got


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
