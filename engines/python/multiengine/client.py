"""Client: a connection to a Multiengine controller and the engines behind it, with
ipyparallel's names (docs/python-client.md). It finds the profile's connection file as the
TypeScript client does (core/connection/connectionFile.ts), makes views, and keeps the
bookkeeping views share: the engines, the requests in flight, waiting, results by msg_id."""

import os
import re
import sys
import weakref

from multiengine_python.command_line import ConnectionFileError, read_connection_file
from multiengine_python.wire import Signer, random_uuid

from .dispatcher import Dispatcher
from .errors import ControllerError
from .links import MessageMaker
from .results import AsyncResult
from .task_records import task_filter, task_record

_PROFILE = re.compile(r'^[A-Za-z0-9._-]+$')


def multiengine_dir(dir=None):
    return dir or os.environ.get('MULTIENGINE_DIR') or os.path.join(os.path.expanduser('~'), '.multiengine')


def connection_file_path(profile='default', dir=None, role='client'):
    """$MULTIENGINE_DIR/profile_<profile>/security/multiengine-<role>.json"""
    if not isinstance(profile, str) or not _PROFILE.match(profile):
        raise ValueError('profile names may only contain letters, digits, ".", "_" and "-", got %r' % (profile,))
    return os.path.join(multiengine_dir(dir), 'profile_' + profile, 'security', 'multiengine-%s.json' % role)


def _msg_ids(jobs, history=None, what='jobs'):
    """msg_ids of AsyncResults, msg_id strings, or lists of them; with `history` (this client's
    msg_ids, oldest first), integers are indices into it, as in ipyparallel (-1: the latest)."""
    if jobs is None:
        return []
    if isinstance(jobs, (str, AsyncResult)) or not hasattr(jobs, '__iter__'):
        jobs = [jobs]
    out = []
    for j in jobs:
        if isinstance(j, AsyncResult):
            out.extend(j.msg_ids)
        elif isinstance(j, str):
            out.append(j)
        elif history is not None and isinstance(j, int) and not isinstance(j, bool):
            try:
                out.append(history[j])
            except IndexError:
                raise IndexError('%s: index %d is past the history of this client, which has sent %d request(s)'
                                 % (what, j, len(history)))
        elif history is not None:
            raise TypeError('%s: expected msg_id strings, AsyncResults or indices into this client\'s history, got %r' % (what, j))
        else:
            raise TypeError('%s: expected AsyncResults or msg_id strings, got %r' % (what, j))
    return out


_activated = []


def _activate_in_ipython(rc):
    """The first Client made in IPython registers the %px magics on all engines, as ipyparallel's does."""
    if _activated or 'IPython' not in sys.modules:
        return
    try:
        from IPython import get_ipython
        if get_ipython() is None:
            return
        from . import magics  # noqa: F401 (absent: no magics to register)
    except ImportError:
        return
    _activated.append(True)
    rc.activate()


class Client(object):
    """Client(url_file=None, profile='default'): connects to the cluster whose client connection
    file is `url_file`, else the profile's under $MULTIENGINE_DIR (default ~/.multiengine)."""

    def __init__(self, url_file=None, profile='default', dir=None, allow_insecure=False, timeout=10.0,
                 direct=None, subscribe='registration', **kwargs):
        if kwargs:
            raise TypeError('Client() got unexpected arguments: %s' % ', '.join(sorted(kwargs)))
        if url_file is not None and not isinstance(url_file, str):
            raise TypeError('url_file is the path of a client connection file, got %r' % (url_file,))
        self.url_file = url_file or connection_file_path(profile, dir)
        self.profile = profile
        try:
            info = read_connection_file(self.url_file, allow_insecure)
        except ConnectionFileError as e:
            raise OSError(str(e).replace('--allow-insecure', 'Client(..., allow_insecure=True)'))
        self.connection_info = info
        self.session = random_uuid()
        signer = Signer(info['key'])
        if direct is None:
            direct = os.environ.get('MULTIENGINE_DIRECT') != '0'
        self._dispatcher = Dispatcher(info, MessageMaker(signer, self.session), signer, subscribe, direct, timeout,
                                      self.url_file, allow_insecure)
        self._results = weakref.WeakValueDictionary()
        self.block = False
        _activate_in_ipython(self)

    # ---- engines

    def _refresh(self):
        d = self._dispatcher
        if not d.closed:
            d.wait_for(lambda: False, 0)
            d.ensure_open()  # the controller was lost: connect again (or say why not)

    @property
    def connection_state(self):
        """'connected'; 'reconnecting' once the controller was lost and may come back (the next call
        connects again, for up to the reconnect time the controller advised); 'closed'."""
        d = self._dispatcher
        if not d.closed:
            d.wait_for(lambda: False, 0)
        return d.state

    @property
    def ids(self):
        """The ids of the live engines, ascending."""
        self._refresh()
        return sorted(i for i, e in self._dispatcher.engines.items() if e.get('state') != 'dead')

    def kernel_of(self, eid):
        """The language of engine `eid` ('python', 'node', ...); None when unknown."""
        e = self._dispatcher.engines.get(eid)
        return e.get('kernel') if e else None

    def wait_for_engines(self, n, timeout=60.0):
        """Waits until at least `n` engines are up; TimeoutError past `timeout` seconds."""
        from .errors import TimeoutError
        if not self._dispatcher.wait_for(lambda: len([e for e in self._dispatcher.engines.values() if e.get('state') != 'dead']) >= n, timeout):
            raise TimeoutError('%d engine(s) up after %g s, waiting for %d' % (len(self.ids), timeout, n))

    def __len__(self):
        return len(self.ids)

    def __getitem__(self, key):
        """rc[0]: a DirectView on engine 0; rc[:], rc[::2], rc[1:3], rc[[0, 2]]: on those engines."""
        from .directview import DirectView
        if isinstance(key, bool) or not isinstance(key, (int, slice, list, tuple)):
            raise TypeError('index a Client by an engine id, a slice or a list of ids, got %r' % (key,))
        ids = self.ids
        if isinstance(key, slice):
            return DirectView(self, ids[key])
        if isinstance(key, int):
            if key not in ids:
                raise IndexError('no engine with id %d (engines: %s)' % (key, ', '.join(map(str, ids)) or 'none'))
            return DirectView(self, key)
        missing = [k for k in key if k not in ids]
        if missing:
            raise IndexError('no engine with id %s (engines: %s)' % (', '.join(map(str, missing)), ', '.join(map(str, ids)) or 'none'))
        return DirectView(self, list(key))

    def direct_view(self, targets='all'):
        """A DirectView; targets='all' follows the engines as they come and go."""
        from .directview import DirectView
        return DirectView(self, targets)

    def load_balanced_view(self, targets=None):
        """A LoadBalancedView: the controller's scheduler picks an engine of `targets` (default: any) per task."""
        from .balanced import LoadBalancedView
        return LoadBalancedView(self, targets)

    def resolve_targets(self, targets, method):
        """A list of engine ids for targets ('all'/None, an int, a list)."""
        if targets is None or targets == 'all':
            ids = self.ids
            if not ids:
                raise RuntimeError('%s: the cluster has no engines (yet); start some, or wait_for_engines(n)' % method)
            return ids
        if isinstance(targets, bool):
            raise TypeError('%s: targets are engine ids, got %r' % (method, targets))
        if isinstance(targets, int):
            return [targets]
        if isinstance(targets, (list, tuple, range)) and all(isinstance(t, int) and not isinstance(t, bool) for t in targets):
            if not targets:
                raise ValueError('%s: targets is empty' % method)
            if len(set(targets)) != len(targets):
                raise ValueError('%s: targets lists an engine twice: %s' % (method, list(targets)))
            return list(targets)
        raise TypeError("%s: targets are 'all', an engine id or a list of engine ids, got %r" % (method, targets))

    # ---- results

    def _track(self, ar):
        for m in ar.msg_ids:
            self._results[m] = ar
        return ar

    def wait(self, jobs=None, timeout=-1):
        """Waits for `jobs` (AsyncResults or msg_ids; default: everything this client has in flight).
        True when all finished, False when `timeout` seconds passed first."""
        d = self._dispatcher
        if jobs is None:
            works = list(d.pending.values())
        else:
            ids = set(_msg_ids(jobs))
            works = [w for m, w in list(d.pending.items()) if m in ids]
        return d.wait_for(lambda: all(w.done for w in works), None if timeout is None or timeout < 0 else timeout)

    @property
    def outstanding(self):
        """msg_ids of the requests still in flight."""
        return set(self._dispatcher.pending)

    @property
    def history(self):
        """The msg_ids of the requests this client sent, oldest first (get_result(-1): the latest)."""
        return self._dispatcher.history

    def get_result(self, indices_or_msg_ids=None, block=None, timeout=10.0):
        """The AsyncResult of a msg_id, an index into `history` (default -1, the latest), or a
        list of them (one result, in their order): this client's own, or one the controller holds
        (another client's, one whose client went away, a resubmitted one, or one its task
        database kept); KeyError when nobody has it."""
        ids = -1 if indices_or_msg_ids is None else indices_or_msg_ids
        if isinstance(ids, AsyncResult):
            return ids
        if isinstance(ids, (list, tuple)):
            ids = _msg_ids(ids, self.history, 'get_result')
            if not ids:
                raise ValueError('get_result needs msg_ids, AsyncResults or indices; got an empty list')
            parts = []
            for m in ids:
                parts.extend(self.get_result(m, block=False, timeout=timeout)._parts)
            ar = AsyncResult(self, parts, parts[0][0].method)
        else:
            ids = _msg_ids(ids, self.history, 'get_result')[0]
            ar = self._results.get(ids)
            if ar is None:
                ar = self._fetch(ids, timeout)
            else:
                own = [p for p in ar._parts if p[0].msg_id == ids]
                if len(own) < len(ar._parts):
                    # One request of several (a map's task): its own value, ready when it is,
                    # as ipyparallel's get_result answers one msg_id (not the whole map's).
                    ar = AsyncResult(self, own, ar._method, single=len(own) == 1)
        if block if block is not None else self.block:
            ar.wait()
        return ar

    def _fetch(self, msg_id, timeout):
        d = self._dispatcher
        w = d.pending.get(msg_id)
        if w is None:
            try:
                d.request('result_request', {'msg_id': msg_id}, timeout=timeout)
            except ControllerError as e:
                raise KeyError(e.evalue if msg_id in (e.evalue or '') else 'no result for msg_id %s: %s' % (msg_id, e.evalue))
            w = d.fetched.pop(msg_id, None) or d.pending.get(msg_id)
        if w is None:
            raise KeyError('no result for msg_id %s' % msg_id)
        return self._track(AsyncResult(self, [(w, e) for e in (w.targets or [None])], w.method,
                                       single=len(w.targets or [None]) == 1))

    # ---- task records (the controller's task database: docs/python-client.md, "Task records")

    def db_query(self, query, keys=None):
        """Task records matching `query`, one per request and engine, oldest first (those still
        running last, status 'pending'): {field: value}, or comparisons such as
        {'completed': {'$gt': datetime}, 'engine_id': {'$in': [0, 1]}} ($lt, $lte, $gt, $gte,
        $ne, $in, $nin). `keys` limits the fields (msg_id and engine_id always come). The times
        (submitted, received, started, completed) are UTC datetimes."""
        content = {'filter': task_filter(query)}
        if keys is not None:
            if isinstance(keys, str) or not all(isinstance(k, str) for k in keys):
                raise TypeError('keys is a list of record fields, got %r' % (keys,))
            content['keys'] = list(keys)
        return [task_record(r) for r in self._dispatcher.request('db_request', content)['records']]

    def hub_history(self):
        """Every recorded msg_id in the order they were submitted, then those still running."""
        return list(self._dispatcher.request('history_request', {})['msg_ids'])

    def resubmit(self, indices_or_msg_ids=None, metadata=None, block=None):
        """Runs recorded execute and apply requests (msg_ids, AsyncResults or indices into
        `history`, default -1) again, each with a new msg_id, on the same engines (a
        load-balanced one load-balanced again); returns their AsyncResult (get_result of the new
        msg_ids). KeyError for a msg_id the controller did not keep the request of."""
        if metadata is not None:
            raise ValueError('resubmit runs a request with the metadata it had; metadata=%r cannot be changed' % (metadata,))
        ids = _msg_ids(-1 if indices_or_msg_ids is None else indices_or_msg_ids, self.history, 'resubmit')
        if not ids:
            raise ValueError('resubmit needs msg_ids or AsyncResults, got %r' % (indices_or_msg_ids,))
        try:
            new = self._dispatcher.request('resubmit_request', {'msg_ids': ids})['msg_ids']
        except ControllerError as e:
            if e.ename == 'KeyError':
                raise KeyError(e.evalue)
            raise
        return self.get_result(new if len(new) > 1 else new[0], block=block)

    def purge_results(self, jobs=[], targets=[]):
        """Forgets finished task records and the results the controller keeps: of `jobs`
        (msg_ids or AsyncResults, or 'all'); `targets` alone: everything of those engines;
        both: those jobs' records on those engines. Requests still running are kept. Returns
        how many records went."""
        content = {}
        if jobs == 'all':
            content['msg_ids'] = 'all'
        else:
            ids = _msg_ids(jobs)
            if not ids and not targets:
                raise ValueError('purge_results needs jobs (msg_ids, AsyncResults or "all") or targets')
            content['msg_ids'] = ids if ids else 'all'
        if targets:
            content['targets'] = self.resolve_targets(targets, 'purge_results')
        return self._dispatcher.request('purge_request', content)['purged']

    def purge_everything(self):
        """Forgets every finished task record and kept result."""
        return self.purge_results('all')

    def queue_status(self, targets=None, verbose=False):
        """{engine_id: {'queue': waiting, 'running': 0|1, 'completed': n, 'tasks': waiting+running}, 'unassigned': n}."""
        reply = self._dispatcher.request('queue_request', {})
        want = None if targets is None or targets == 'all' else set(self.resolve_targets(targets, 'queue_status'))
        out = {}
        for e in reply.get('engines', []):
            if want is None or e['id'] in want:
                out[e['id']] = {'queue': e.get('queued', 0), 'running': e.get('running', 0),
                                'completed': e.get('completed', 0), 'tasks': e.get('queued', 0) + e.get('running', 0)}
        if isinstance(targets, int) and not isinstance(targets, bool):
            return out.get(targets, {})
        out['unassigned'] = reply.get('unassigned', 0)
        return out

    def abort(self, jobs=None, targets=None, block=None):
        """Drops `jobs` (default: every request queued on `targets`) before they start; running ones go on."""
        ids = _msg_ids(jobs)
        d = self._dispatcher
        if ids:
            d.drop_held(ids)
        content = {'msg_ids': ids} if ids else {}
        if targets is None and ids:
            # Direct requests never passed the controller: their engines are told by name.
            engines = sorted(set(e for m in ids for e in (getattr(d.pending.get(m), 'targets', None) or ())))
            if engines:
                d.request('abort_request', content, metadata={'targets': engines})
            d.request('abort_request', content)
        else:
            d.request('abort_request', content, metadata={'targets': self.resolve_targets(targets, 'abort')})
        if ids and (block if block is not None else self.block):
            self.wait(ids)

    def interrupt(self, targets=None, jobs=None):
        """Interrupts the code running on `targets` (KeyboardInterrupt there); the engines stay up."""
        content = {'msg_ids': _msg_ids(jobs)} if jobs is not None else {}
        self._dispatcher.request('interrupt_request', content, metadata={'targets': self.resolve_targets(targets, 'interrupt')})

    def clear(self, targets=None, block=None):
        """Empties the engines' namespaces."""
        return self.direct_view(targets).clear(block=block)

    def activate(self, targets='all', suffix=''):
        """Registers the %px magics in IPython for a view on `targets` (see DirectView.activate)."""
        view = self.direct_view(targets)
        view.block = True  # as ipyparallel's: %px after the first Client() prints each engine's output
        view.activate(suffix)
        return view

    def shutdown(self, targets='all', hub=False, block=None):
        """Stops the engines of `targets`; with hub=True the controller too (and every engine)."""
        d = self._dispatcher
        if hub:
            d.request('controller_shutdown_request', {}, timeout=30)
            return
        for eid in self.resolve_targets(targets, 'shutdown'):
            d.request('stop_engine_request', {'id': eid}, timeout=30)

    def status(self):
        """The controller's status_reply content (engines, result store, task database ...)."""
        return self._dispatcher.request('status_request', {})

    def close(self, linger=None):
        self._dispatcher.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self):
        return '<multiengine.Client %s: %d engines>' % (self.url_file, len(self._dispatcher.engines))
