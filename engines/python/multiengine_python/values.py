"""Python values <-> JSON trees + binary buffers, the encoding core/serialize/serialize.ts defines.

docs/protocol.md has the mapping table. numpy is never imported here unless an ndarray
arrives; datetime, array and re are only looked at when user code has imported them.
"""

import builtins
import json
import sys
import types
from math import copysign as _copysign

from .arrays import LITTLE_ENDIAN, NDArray, decode_ndarray, dtype_of_array

MAX_SAFE_INTEGER = 2 ** 53 - 1


class SerializationError(TypeError):
    """A value has no wire form (or a wire form has no Python value)."""


class _Fail(Exception):
    """Internal: an encoding failure on its way up, collecting the path to the bad value."""

    def __init__(self, why):
        Exception.__init__(self, why)
        self.why = why
        self.steps = []


class JSFunction(object):
    """A JavaScript function that arrived here (pushed or passed as an argument). Python cannot
    run JavaScript, so calling it raises TypeError; it keeps its source and travels back as the
    same function when pulled."""

    __slots__ = ('src', 'name')

    def __init__(self, src, name=''):
        self.src = src
        self.name = name

    def __call__(self, *args, **kwargs):
        raise TypeError('%s is a JavaScript function (it came from a node client or engine) and cannot be '
                        'called on a python engine; send Python source instead' % self._label())

    def _label(self):
        return 'JSFunction %r' % self.name if self.name else 'this anonymous JSFunction'

    def __repr__(self):
        src = self.src if len(self.src) <= 60 else self.src[:57] + '...'
        return '<JSFunction %s: %s>' % (self.name or '(anonymous)', src)

    def __eq__(self, other):
        return isinstance(other, JSFunction) and other.src == self.src and other.name == self.name

    def __hash__(self):
        return hash((self.src, self.name))


class JSRegExp(object):
    """A JavaScript RegExp whose source Python's re module cannot compile; travels back unchanged."""

    __slots__ = ('source', 'flags')

    def __init__(self, source, flags=''):
        self.source = source
        self.flags = flags

    def __repr__(self):
        return 'JSRegExp(/%s/%s)' % (self.source, self.flags)

    def __eq__(self, other):
        return isinstance(other, JSRegExp) and (other.source, other.flags) == (self.source, self.flags)

    def __hash__(self):
        return hash((self.source, self.flags))


def _short_repr(v, limit=80):
    try:
        r = repr(v)
    except Exception:
        r = '<unrepresentable>'
    return r if len(r) <= limit else r[:limit - 3] + '...'


def _type_name(v):
    t = type(v)
    mod = getattr(t, '__module__', 'builtins')
    return t.__qualname__ if mod in ('builtins', None) else '%s.%s' % (mod, t.__qualname__)


#: Functions travel as their source: what to do instead of sending one as a value.
_FUNCTION_HINT = ('; a function goes to the engines as its source: pass it to apply or map, or define it there with '
                  'execute')


def _no_mapping(v, why=None):
    if why is None and isinstance(v, (types.FunctionType, types.BuiltinFunctionType, types.MethodType, type)):
        kind = 'class' if isinstance(v, type) else 'function'
        why = 'a Python %s has no wire mapping (%s)%s' % (kind, _short_repr(v), _FUNCTION_HINT)
    return _Fail(why or 'a value of type %s has no wire mapping (%s)' % (_type_name(v), _short_repr(v)))


class Encoder(object):
    """Python value -> JSON tree, with binary data appended to self.buffers."""

    def __init__(self):
        self.buffers = []
        self._active = set()

    def encode(self, value, path='value'):
        """The JSON tree of `value`; SerializationError names `path` (e.g. the variable) and the bad type."""
        try:
            return self._enc(value)
        except _Fail as f:
            where = path + ''.join(reversed(f.steps))
            raise SerializationError('cannot serialize %s: %s' % (where, f.why))
        except RecursionError:
            raise SerializationError('cannot serialize %s: it is nested too deeply' % path)

    def _enc(self, v):
        t = type(v)
        if t is str or t is bool or v is None:
            return v
        if t is int:
            return v if -MAX_SAFE_INTEGER <= v <= MAX_SAFE_INTEGER else self._bigint(v)
        if t is float:
            if v:
                return v if v - v == 0 else _float_tag(v)
            return v if _copysign(1.0, v) > 0 else {'$t': 'float', 'v': '-0'}  # -0.0 travels as a tag, as from node
        if t is list or t is tuple:
            return self._seq(v)
        if t is dict:
            return self._dict(v)
        return self._other(v, t)

    def _bigint(self, v):
        try:
            return {'$t': 'bigint', 'v': str(v)}
        except ValueError as e:  # Python 3.11+: int_max_str_digits
            raise _Fail('an int too large to convert to decimal (%s)' % e)

    def _seq(self, v):
        key = id(v)
        if key in self._active:
            raise _Fail('it refers to itself (circular reference)')
        self._active.add(key)
        out = []
        append = out.append
        enc = self._enc
        try:
            for x in v:
                append(enc(x))
        except _Fail as f:
            f.steps.append('[%d]' % len(out))
            raise
        finally:
            self._active.discard(key)
        return out

    def _dict(self, v):
        key = id(v)
        if key in self._active:
            raise _Fail('it refers to itself (circular reference)')
        self._active.add(key)
        enc = self._enc
        k = None
        try:
            if all(isinstance(k, str) for k in v):
                if '$t' in v:
                    out = []
                    for k, x in v.items():
                        out.append([str(k), enc(x)])
                    return {'$t': 'object', 'v': out}
                out = {}
                for k, x in v.items():
                    out[str(k)] = enc(x)
                return out
            entries = []
            for k, x in v.items():
                try:
                    ek = enc(k)
                except _Fail as f:
                    f.steps.append('.keys()[%d]' % len(entries))
                    f.steps.append('')  # the key's own path is complete: no [k] step below
                    raise
                entries.append([ek, enc(x)])
            return {'$t': 'map', 'v': entries}
        except _Fail as f:
            if f.steps and f.steps[-1] == '':
                f.steps.pop()
            else:
                f.steps.append('[%s]' % _short_repr(k, 40))
            raise
        finally:
            self._active.discard(key)

    def _items(self, v, step):
        out = []
        try:
            for x in v:
                out.append(self._enc(x))
        except _Fail as f:
            f.steps.append(step % len(out))
            raise
        return out

    def _binary(self, data):
        self.buffers.append(data)
        return len(self.buffers) - 1

    def _other(self, v, t):
        # bytes-like
        if t is bytes or t is bytearray:
            return {'$t': 'bytes', 'buf': self._binary(v)}
        if t is memoryview:
            data = v.cast('B') if v.c_contiguous and v.ndim <= 1 else v.tobytes()
            return {'$t': 'bytes', 'buf': self._binary(data)}
        # numpy, when it is loaded (no numpy object can exist before that)
        np = sys.modules.get('numpy')
        if np is not None:
            if isinstance(v, np.ndarray):
                return self._ndarray(v, np)
            if isinstance(v, np.generic):
                if isinstance(v, np.bool_):
                    return bool(v)
                if isinstance(v, np.integer):
                    return self._enc(int(v))
                if isinstance(v, np.floating):
                    return self._enc(float(v))
                raise _no_mapping(v)
        if t is range:
            return list(v)
        if t is set or t is frozenset:
            return {'$t': 'set', 'v': self._items(v, '.item(%d)')}
        if t is JSFunction:
            return {'$t': 'function', 'src': v.src, 'name': v.name}
        if t is NDArray:
            return self._ndarray_fallback(v)
        if t is JSRegExp:
            return {'$t': 'regexp', 'source': v.source, 'flags': v.flags}
        dt = sys.modules.get('datetime')
        if dt is not None and isinstance(v, dt.date):
            return {'$t': 'date', 'v': _iso_date(v, dt)}
        arr = sys.modules.get('array')
        if arr is not None and isinstance(v, arr.array):
            return self._array(v)
        re_mod = sys.modules.get('re')
        if re_mod is not None and isinstance(v, re_mod.Pattern):
            return self._pattern(v, re_mod)
        if isinstance(v, BaseException):
            return _error_tag(v)
        if t in _DICT_VIEWS:
            return self._items(v, '[%d]')
        # subclasses of the plain types (IntEnum, OrderedDict, namedtuple, str subclasses ...)
        if isinstance(v, bool):
            return bool(v)
        if isinstance(v, int):
            return self._enc(int(v))
        if isinstance(v, float):
            return self._enc(float(v))
        if isinstance(v, str):
            return str(v)
        if isinstance(v, (list, tuple)):
            return self._seq(v)
        if isinstance(v, dict):
            return self._dict(v)
        if isinstance(v, (set, frozenset)):
            return {'$t': 'set', 'v': self._items(v, '.item(%d)')}
        if isinstance(v, (bytes, bytearray)):
            return {'$t': 'bytes', 'buf': self._binary(bytes(v))}
        coll = sys.modules.get('collections')
        if coll is not None and isinstance(v, coll.deque):
            return self._items(v, '[%d]')
        raise _no_mapping(v)

    def _ndarray(self, a, np):
        kind, size = a.dtype.kind, a.dtype.itemsize
        if kind == 'b':
            a = a.astype(np.uint8)
            kind, size = 'u', 1
        elif kind == 'f' and size == 2:
            a = a.astype(np.float32)
            size = 4
        if kind in 'iu' and size in (1, 2, 4, 8):
            name = ('int' if kind == 'i' else 'uint') + str(size * 8)
        elif kind == 'f' and size in (4, 8):
            name = 'float' + str(size * 8)
        else:
            raise _no_mapping(a, 'a numpy array of dtype %s has no wire mapping (int8..int64, uint8..uint64, '
                                 'float32, float64 and bool do)' % a.dtype)
        if size > 1 and a.dtype.byteorder not in ('<', '|') and not (a.dtype.byteorder == '=' and LITTLE_ENDIAN):
            a = a.astype(a.dtype.newbyteorder('<'))
        if not a.flags.c_contiguous:
            a = a.copy(order='C')  # (np.ascontiguousarray would turn a 0-d array into 1-d)
        flat = a.reshape(-1).view(np.uint8)
        return {'$t': 'ndarray', 'dtype': name, 'shape': [int(d) for d in a.shape], 'buf': self._binary(memoryview(flat))}

    def _array(self, a):
        dtype = dtype_of_array(a)
        if dtype is None:
            raise _no_mapping(a, "an array.array of typecode '%s' has no wire mapping" % a.typecode)
        if not LITTLE_ENDIAN and a.itemsize > 1:
            a = type(a)(a.typecode, a)
            a.byteswap()
        return {'$t': 'ndarray', 'dtype': dtype, 'shape': [len(a)], 'buf': self._binary(memoryview(a).cast('B')), 'typed': True}

    def _ndarray_fallback(self, a):
        data = a.data
        if not LITTLE_ENDIAN and data.itemsize > 1:
            data = type(data)(data.typecode, data)
            data.byteswap()
        return {'$t': 'ndarray', 'dtype': a.dtype, 'shape': list(a.shape), 'buf': self._binary(memoryview(data).cast('B'))}

    def _pattern(self, p, re_mod):
        if not isinstance(p.pattern, str):
            raise _no_mapping(p, 'a bytes regular expression has no wire mapping')
        flags = ''
        if p.flags & re_mod.IGNORECASE:
            flags += 'i'
        if p.flags & re_mod.MULTILINE:
            flags += 'm'
        if p.flags & re_mod.DOTALL:
            flags += 's'
        return {'$t': 'regexp', 'source': p.pattern, 'flags': flags}


_DICT_VIEWS = (type({}.keys()), type({}.values()), type({}.items()))


def _float_tag(v):
    return {'$t': 'float', 'v': 'nan' if v != v else ('inf' if v > 0 else '-inf')}


def iso_utc(u):
    """A UTC datetime as the wire writes times (JavaScript's Date.toISOString(): milliseconds, Z)."""
    return '%04d-%02d-%02dT%02d:%02d:%02d.%03dZ' % (u.year, u.month, u.day, u.hour, u.minute, u.second, u.microsecond // 1000)


def _iso_date(v, dt):
    if not isinstance(v, dt.datetime):
        v = dt.datetime(v.year, v.month, v.day, tzinfo=dt.timezone.utc)
    try:
        u = v.astimezone(dt.timezone.utc)  # a naive datetime is local time, as in datetime.timestamp()
    except (OverflowError, ValueError, OSError) as e:
        raise _Fail('the datetime %s cannot be converted to UTC (%s)' % (v, e))
    return iso_utc(u)


def _error_tag(e):
    name = type(e).__name__
    stack = ''
    if e.__traceback__ is not None:
        import traceback
        stack = ''.join(traceback.format_exception(type(e), e, e.__traceback__)).rstrip('\n')
    try:
        message = str(e)
    except Exception:
        message = '<unprintable>'
    if isinstance(e, JSError):
        name, message, stack = e.name, e.message, e.stack
    return {'$t': 'error', 'name': name, 'message': message, 'stack': stack}


class JSError(Exception):
    """An error that arrived from JavaScript and has no Python class of the same name."""

    def __init__(self, name, message, stack=''):
        Exception.__init__(self, message)
        self.name = name
        self.message = message
        self.stack = stack

    def __repr__(self):
        return 'JSError(%r, %r)' % (self.name, self.message)

    def __str__(self):
        return '%s: %s' % (self.name, self.message) if self.name else self.message


def encode_value(value, path='value'):
    """(tree, buffers) for one value."""
    enc = Encoder()
    tree = enc.encode(value, path)
    return tree, enc.buffers


def decode_value(tree, buffers=()):
    """The Python value of a JSON tree whose binary data lives in `buffers`."""
    t = type(tree)
    if t is list:
        return [decode_value(x, buffers) for x in tree]
    if t is not dict:
        return tree
    if '$t' not in tree:
        return {k: decode_value(x, buffers) for k, x in tree.items()}
    tag = tree['$t']
    if tag == 'float':
        v = tree.get('v')
        return float('nan') if v == 'nan' else float('inf') if v == 'inf' else -0.0 if v == '-0' else float('-inf')
    if tag == 'undefined':
        return None
    if tag == 'bigint':
        return int(str(tree.get('v')))
    if tag == 'ndarray':
        try:
            return decode_ndarray(tree, _buffer_at(buffers, tree.get('buf')))
        except ValueError as e:
            raise SerializationError(str(e))
    if tag == 'bytes':
        return bytes(_buffer_at(buffers, tree.get('buf')))
    if tag == 'date':
        return _decode_date(tree.get('v'))
    if tag == 'object':
        return {str(k): decode_value(x, buffers) for k, x in tree.get('v')}
    if tag == 'map':
        out = {}
        for k, x in tree.get('v'):
            out[_hashable(decode_value(k, buffers), 'a Map key')] = decode_value(x, buffers)
        return out
    if tag == 'set':
        return set(_hashable(decode_value(x, buffers), 'a Set item') for x in tree.get('v'))
    if tag == 'function':
        name = tree.get('name')
        return JSFunction(str(tree.get('src')), name if isinstance(name, str) else '')
    if tag == 'error':
        return _decode_error(str(tree.get('name')), str(tree.get('message')), tree.get('stack'))
    if tag == 'regexp':
        return _decode_regexp(str(tree.get('source')), str(tree.get('flags', '')))
    if tag == 'repr':
        return {'$repr': str(tree.get('text')), 'type': str(tree.get('type'))}
    raise SerializationError('unknown value tag %s' % json.dumps(tag))


def _buffer_at(buffers, index):
    if type(index) is not int or index < 0 or index >= len(buffers):
        raise SerializationError('value refers to buffer %s, message has %d' % (json.dumps(index), len(buffers)))
    return buffers[index]


def _decode_date(v):
    if v is None:
        return None  # an invalid JavaScript Date
    import datetime as dt
    s = str(v)
    if s.endswith('Z'):
        s = s[:-1] + '+00:00'
    if s[:1] in '+-':
        raise SerializationError('date %s is outside the years Python can represent (1-9999)' % v)
    try:
        # Python < 3.11 accepts only 3 or 6 fraction digits
        head, sep, tail = s.partition('.')
        if sep:
            i = 0
            while i < len(tail) and tail[i].isdigit():
                i += 1
            frac = (tail[:i] + '000000')[:6]
            s = head + '.' + frac + tail[i:]
        d = dt.datetime.fromisoformat(s)
    except ValueError as e:
        raise SerializationError('bad date %s: %s' % (json.dumps(v), e))
    if d.tzinfo is None:
        d = d.replace(tzinfo=dt.timezone.utc)
    return d.astimezone(dt.timezone.utc)


def _hashable(v, what):
    if isinstance(v, list):
        return tuple(_hashable(x, what) for x in v)
    if isinstance(v, set):
        return frozenset(v)
    if isinstance(v, dict):
        raise SerializationError('%s is an object; Python dict keys and set items must be hashable' % what)
    try:
        hash(v)
    except TypeError:
        raise SerializationError('%s of type %s is not hashable in Python' % (what, _type_name(v)))
    return v


#: JavaScript error names that are Python builtins with another meaning (Python's is about weakrefs).
_JS_ONLY_ERRORS = frozenset(['ReferenceError'])


def _decode_error(name, message, stack):
    """An instance of the builtin exception class of that name (ValueError, TypeError ...), else a JSError."""
    cls = getattr(builtins, name, None) if name not in _JS_ONLY_ERRORS else None
    e = None
    if isinstance(cls, type) and issubclass(cls, Exception):
        try:
            e = cls(message)
        except Exception:
            e = None
    if e is None:
        e = JSError(name, message, stack if isinstance(stack, str) else '')
    return e


def _decode_regexp(source, flags):
    import re
    f = 0
    if 'i' in flags:
        f |= re.IGNORECASE
    if 'm' in flags:
        f |= re.MULTILINE
    if 's' in flags:
        f |= re.DOTALL
    if set(flags) - set('ims'):
        return JSRegExp(source, flags)  # g, y, d, u, v have no Python equivalent: keep it as it came
    try:
        return re.compile(source, f)
    except re.error:
        return JSRegExp(source, flags)
