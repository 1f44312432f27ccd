"""The controller's task records as the Python client gives them (db_query): the protocol's
TaskRecord dicts (docs/protocol.md, section 15) with their four times as aware UTC datetimes,
and queries that may compare those times with datetimes, as ipyparallel's do."""

import datetime

from multiengine_python.values import iso_utc

from .results import _parse_date

#: The record's times (ISO strings on the wire).
TIMES = ('submitted', 'received', 'started', 'completed')
_OPS = ('$lt', '$lte', '$gt', '$gte', '$ne', '$in', '$nin')


def _wire(v):
    if isinstance(v, datetime.datetime):
        return iso_utc(v.astimezone(datetime.timezone.utc))  # a naive datetime is local time
    if isinstance(v, (list, tuple, set, frozenset)):
        return [_wire(x) for x in v]
    return v


def task_filter(query):
    """`query` for db_request: {field: value} or {field: {'$gt': value, ...}}, datetimes made ISO."""
    if not isinstance(query, dict):
        raise TypeError('db_query takes a dict of fields, e.g. {"status": "error"} or '
                        '{"completed": {"$gt": datetime}}, got %r' % (query,))
    out = {}
    for k, v in query.items():
        if isinstance(v, dict) and v and all(op in _OPS for op in v):
            out[k] = dict((op, _wire(x)) for op, x in v.items())
        else:
            out[k] = _wire(v)
    return out


def task_record(r):
    """A record from db_reply with its times as datetimes (None while not reached)."""
    r = dict(r)
    for k in TIMES:
        if k in r:
            r[k] = _parse_date(r[k])
    return r
