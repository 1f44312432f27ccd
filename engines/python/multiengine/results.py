"""AsyncResult: a request in flight on one or more engines, as in ipyparallel: get(timeout),
ready(), successful(), wait(), get_dict(), r, metadata, stdout, stderr, progress, elapsed,
wall_time, serial_time, iteration and display_outputs()."""

import datetime
import sys
import time

from multiengine_python.values import decode_value

from .errors import AbortError, CompositeError, TimeoutError, remote_error


def _parse_date(text):
    if not isinstance(text, str):
        return None
    try:
        return datetime.datetime.strptime(text, '%Y-%m-%dT%H:%M:%S.%fZ').replace(tzinfo=datetime.timezone.utc)
    except ValueError:
        return None


class ExecuteReply(object):
    """One engine's answer to execute: its execution count, the display text of the code's value
    and, when the value offers them, its rich formats (`data`, a MIME bundle). Displayed in
    IPython, it shows as ipyparallel's `Out[engine:count]: value`, in every format it has."""

    __slots__ = ('engine_id', 'execution_count', 'result', 'data', 'data_metadata')

    def __init__(self, engine_id, execution_count, result, data=None, data_metadata=None):
        self.engine_id = engine_id
        self.execution_count = execution_count
        self.result = result
        self.data = data
        self.data_metadata = data_metadata

    @property
    def execute_result(self):
        if self.result is None:
            return None
        data = dict(self.data) if isinstance(self.data, dict) else {}
        data['text/plain'] = self.result
        return {'data': data, 'metadata': self.data_metadata or {}, 'execution_count': self.execution_count}

    def __repr__(self):
        return '<ExecuteReply[%s]: %s>' % (self.execution_count, self.result if self.result is not None else '')

    def _repr_pretty_(self, p, cycle):
        p.text('Out[%s:%s]: %s' % (self.engine_id, self.execution_count, self.result if self.result is not None else ''))

    def _repr_mimebundle_(self, include=None, exclude=None):
        """The value's bundle with the `Out[engine:count]:` heading on its text and its HTML."""
        er = self.execute_result
        if er is None:
            return {'text/plain': ''}
        data = dict(er['data'])  # a copy: showing twice must not head it twice
        head = 'Out[%s:%s]: ' % (self.engine_id, self.execution_count)
        text = data['text/plain']
        data['text/plain'] = head + ('\n' if '\n' in text else '') + text
        if isinstance(data.get('text/html'), str):
            data['text/html'] = '<pre style="margin:0">%s</pre>%s' % (head.strip(), data['text/html'])
        md = dict(er['metadata'])
        md.update({'engine_id': self.engine_id, 'execution_count': self.execution_count})
        return data, md


def outputs_of(content):
    """The display() bundles an engine's reply carries ({data, metadata} each), [] for none."""
    got = content.get('outputs')
    if not isinstance(got, list):
        return []
    return [o for o in got if isinstance(o, dict) and isinstance(o.get('data'), dict)]


def decode_reply(work, eid, content, buffers):
    """The value of an ok reply, by message type."""
    t = work.msg_type
    if t == 'apply_request':
        return decode_value(content.get('result'), buffers)
    if t == 'pull_request':
        return [decode_value(v, buffers) for v in content.get('values', [])]
    if t == 'execute_request':
        data = content.get('data')
        md = content.get('metadata')
        return ExecuteReply(eid, content.get('execution_count'), content.get('result'),
                            data if isinstance(data, dict) else None, md if isinstance(md, dict) else None)
    if t == 'keys_request':
        return content.get('keys', [])
    return None


class AsyncResult(object):
    """`parts` are (work, engine_id) in target order (engine_id None: a load-balanced task, whose
    engine its reply names). `finalize` turns the list of per-part values into the result;
    `single` unwraps a result of one part."""

    def __init__(self, client, parts, method, finalize=None, single=False, decode=None):
        self._client = client
        self._parts = parts
        self._method = method
        self._finalize = finalize
        self._single = single
        self._decode = decode or decode_reply
        self._sent = time.time()
        self._value = None
        self._have = False
        self.owner = None

    # ---- state

    @property
    def msg_ids(self):
        # In part order, each once (a dict keeps insertion order): a list's `in` made this
        # quadratic, half a second for a map of 10,000 tasks, and Client._track reads it per map.
        return list(dict.fromkeys(w.msg_id for w, _ in self._parts))

    @property
    def engine_id(self):
        ids = self.engine_ids
        return ids[0] if len(ids) == 1 else ids

    @property
    def engine_ids(self):
        return [self._eid(w, e) for w, e in self._parts]

    def _eid(self, w, e):
        return (w.order[0] if w.order else None) if e is None else e

    def _part_done(self, w, e):
        return w.done if e is None else e in w.replies

    def _all_done(self):
        return all(self._part_done(w, e) for w, e in self._parts)

    def ready(self):
        """True when every engine has answered (reads what has arrived, without waiting)."""
        if not self._all_done():
            self._client._dispatcher.wait_for(self._all_done, 0)
        return self._all_done()

    def wait(self, timeout=-1):
        """Waits up to `timeout` seconds (-1 or None: for ever); True when everything answered."""
        return self._client._dispatcher.wait_for(self._all_done, None if timeout is None or timeout < 0 else timeout)

    def _reply(self, w, e):
        return w.replies[self._eid(w, e)]

    def _errors(self):
        errs = []
        for w, e in self._parts:
            content = self._reply(w, e)[0]
            status = content.get('status')
            if status == 'ok':
                continue
            eid = self._eid(w, e)
            errs.append(AbortError(eid, self._method) if status == 'aborted' else remote_error(eid, self._method, content))
        return errs

    def successful(self):
        """True when it finished and every engine answered ok (AssertionError while it runs, as in ipyparallel)."""
        assert self.ready(), 'the result is not ready yet'
        return not self._errors()

    def get(self, timeout=-1):
        """The result, waiting up to `timeout` seconds; raises the remote error(s) (one engine:
        RemoteError; several: CompositeError) or TimeoutError when time runs out."""
        if not self._have:
            if not self.wait(timeout):
                raise TimeoutError('Result not ready.')
            errs = self._errors()
            if errs:
                if self._single and len(errs) == 1 and len(self._parts) == 1:
                    raise errs[0]
                raise CompositeError(self._method, errs)
            values = [self._decode(w, self._eid(w, e), *self._reply(w, e)[:2]) for w, e in self._parts]
            self._value = self._finalize(values) if self._finalize else (values[0] if self._single else values)
            self._have = True
        return self._value

    @property
    def r(self):
        return self.get()

    result = r

    def get_dict(self, timeout=-1):
        """{engine_id: result}; ValueError when an engine ran more than one part."""
        self.wait(timeout)
        ids = self.engine_ids
        if len(set(ids)) != len(ids):
            raise ValueError('cannot make a dict: engines %s ran more than one part of this result' % ids)
        values = self.get(timeout)
        values = [values] if self._single else values
        if self._finalize is not None:
            values = [self._decode(w, self._eid(w, e), *self._reply(w, e)[:2]) for w, e in self._parts]
        return dict(zip(ids, values))

    def abort(self):
        self._client.abort(self)

    # ---- output and timing

    def _texts(self, which):
        out = []
        for w, e in self._parts:
            eid = self._eid(w, e)
            out.append(''.join((w.stdout if which == 'stdout' else w.stderr).get(eid, [])))
        return out

    @property
    def stdout(self):
        t = self._texts('stdout')
        return t[0] if self._single else t

    @property
    def stderr(self):
        t = self._texts('stderr')
        return t[0] if self._single else t

    @property
    def outputs(self):
        """Per part, the bundles display() published on the engine ({data, metadata} each)."""
        out = []
        for w, e in self._parts:
            rep = w.replies.get(self._eid(w, e))
            out.append(outputs_of(rep[0]) if rep is not None else [])
        return out[0] if self._single else out

    @property
    def metadata(self):
        out = []
        for w, e in self._parts:
            eid = self._eid(w, e)
            rep = w.replies.get(eid)
            md = {'engine_id': eid, 'msg_id': w.msg_id, 'submitted': _parse_date(w.header.get('date')),
                  'status': None, 'received': None, 'started': None, 'completed': None, 'error': None,
                  'stdout': ''.join(w.stdout.get(eid, [])), 'stderr': ''.join(w.stderr.get(eid, []))}
            if rep is not None:
                content, _, meta = rep
                md['status'] = content.get('status')
                for k in ('received', 'started', 'completed'):
                    md[k] = _parse_date(meta.get(k))
                if content.get('status') == 'error':
                    md['error'] = remote_error(eid, self._method, content)
            out.append(md)
        return out[0] if self._single else out

    @property
    def progress(self):
        """How many engines (parts) have answered."""
        self.ready()
        return sum(1 for w, e in self._parts if self._part_done(w, e))

    def __len__(self):
        return len(self._parts)

    def __getitem__(self, key):
        """ar[i]: the i-th result (of a map: the i-th element), waiting for it."""
        value = self.get()
        if self._single and self._finalize is None:
            raise TypeError('this AsyncResult holds one result; use get()')
        return value[key]

    def _times(self, key):
        md = self.metadata
        return [m[key] for m in ([md] if self._single else md) if m[key] is not None]

    @property
    def wall_time(self):
        """Seconds from the first submission to the last completion."""
        done, sub = self._times('completed'), self._times('submitted')
        return (max(done) - min(sub)).total_seconds() if done and sub else None

    @property
    def serial_time(self):
        """The engines' computing seconds, added up (completed - started of each)."""
        md = self.metadata
        return sum((m['completed'] - m['started']).total_seconds() for m in ([md] if self._single else md)
                   if m['completed'] and m['started'])

    @property
    def elapsed(self):
        """Seconds since it was submitted (until now, or until it finished)."""
        if self.ready():
            wt = self.wall_time
            if wt is not None:
                return max(wt, 0.0)
        return time.time() - self._sent

    def wait_interactive(self, interval=0.1, timeout=-1):
        self.wait(timeout)

    def display_outputs(self, groupby='type'):
        """Each engine's stdout and stderr with `[stdout:N]` headings, its display() outputs and
        its value, grouped as ipyparallel does: by `type`, by `engine`, or in `order`."""
        from .magics_output import OutputPrinter
        self.wait()
        OutputPrinter(self).show_grouped(groupby)

    def __iter__(self):
        """The results in order as they arrive: elements of each part for a map, else each engine's."""
        flat = self._finalize is not None
        for w, e in self._parts:
            self._client._dispatcher.wait_for(lambda: self._part_done(w, e))
            content, buffers, _ = self._reply(w, e)
            if content.get('status') != 'ok':
                self.get()  # raises the errors
            v = self._decode(w, self._eid(w, e), content, buffers)
            if flat and isinstance(v, list):
                for x in v:
                    yield x
            else:
                yield v

    def __repr__(self):
        state = 'finished' if self._all_done() else 'pending'
        return '<%s(%s): %s>' % (type(self).__name__, self._method, state)


class AsyncMapResult(AsyncResult):
    """A map's result: the parts' lists joined in order; iterating yields the elements as their
    parts arrive (unordered: in the order parts finish)."""

    def __init__(self, client, parts, method, finalize, ordered=True):
        AsyncResult.__init__(self, client, parts, method, finalize)
        self._ordered = ordered

    def __iter__(self):
        if self._ordered:
            for x in AsyncResult.__iter__(self):
                yield x
            return
        left = list(self._parts)
        while left:
            self._client._dispatcher.wait_for(lambda: any(self._part_done(w, e) for w, e in left))
            for w, e in [p for p in left if self._part_done(*p)]:
                left.remove((w, e))
                content, buffers, _ = self._reply(w, e)
                if content.get('status') != 'ok':
                    self.get()
                for x in self._decode(w, self._eid(w, e), content, buffers):
                    yield x
