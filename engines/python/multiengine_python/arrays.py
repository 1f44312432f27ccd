"""Numeric arrays on the wire (protocol section 10, `ndarray`): the ten dtypes, numpy when it is
importable, and NDArray, what an ndarray becomes without numpy. Errors are ValueErrors; values.py
reports them as SerializationError."""

import json
import mmap
import sys

# dtype -> (array.array typecode candidates, itemsize)
_DTYPES = {
    'int8': ('b', 1), 'uint8': ('B', 1), 'int16': ('h', 2), 'uint16': ('H', 2),
    'int32': ('il', 4), 'uint32': ('IL', 4), 'int64': ('ql', 8), 'uint64': ('QL', 8),
    'float32': ('f', 4), 'float64': ('d', 8),
}
_NUMPY_DTYPE = {
    'int8': 'i1', 'uint8': 'u1', 'int16': '<i2', 'uint16': '<u2', 'int32': '<i4', 'uint32': '<u4',
    'int64': '<i8', 'uint64': '<u8', 'float32': '<f4', 'float64': '<f8',
}
_SIGNED_CODES = 'bhilq'
LITTLE_ENDIAN = sys.byteorder == 'little'


def _typecode(dtype):
    import array
    codes, size = _DTYPES[dtype]
    for c in codes:
        if array.array(c).itemsize != size:
            continue
        if dtype[0] == 'f' or (c in _SIGNED_CODES) == (dtype[0] == 'i'):
            return c
    raise ValueError('this Python has no array typecode for %s' % dtype)


def dtype_of_array(a):
    """The wire dtype of an array.array, or None."""
    code = a.typecode
    if code in 'fd':
        return {4: 'float32', 8: 'float64'}.get(a.itemsize)
    if code in 'bBhHiIlLqQ':
        return ('int' if code in _SIGNED_CODES else 'uint') + str(a.itemsize * 8)
    return None


class NDArray(object):
    """An n-dimensional array kept as dtype, shape and a flat array.array, used for ndarrays
    that arrive while numpy is not importable. It travels back as the same ndarray."""

    def __init__(self, dtype, shape, data):
        self.dtype = dtype
        self.shape = tuple(shape)
        self.data = data

    @property
    def size(self):
        return len(self.data)

    @property
    def ndim(self):
        return len(self.shape)

    def tolist(self):
        flat = self.data.tolist()
        if not self.shape:
            return flat[0]

        def build(dim, offset):
            n = self.shape[dim]
            if dim == len(self.shape) - 1:
                return flat[offset:offset + n]
            stride = 1
            for d in self.shape[dim + 1:]:
                stride *= d
            return [build(dim + 1, offset + i * stride) for i in range(n)]
        return build(0, 0)

    def __len__(self):
        if not self.shape:
            raise TypeError('len() of a 0-d NDArray')
        return self.shape[0]

    def __eq__(self, other):
        return isinstance(other, NDArray) and (self.dtype, self.shape) == (other.dtype, other.shape) and self.data == other.data

    __hash__ = None

    def __repr__(self):
        return 'NDArray(dtype=%r, shape=%r, %r)' % (self.dtype, self.shape, self.tolist())


_numpy_state = [None]  # [module] once imported; False when it is not importable


def _numpy():
    """numpy, imported on first need; None when it is not installed."""
    np = _numpy_state[0]
    if np is None:
        np = sys.modules.get('numpy')
        if np is None:
            try:
                import numpy as np
            except Exception:
                np = False
        _numpy_state[0] = np
    return np or None


def decode_ndarray(tree, data):
    """The array an ndarray tag describes, `data` being its buffer."""
    dtype = tree.get('dtype')
    if dtype not in _DTYPES:
        raise ValueError('unknown dtype %s' % json.dumps(dtype))
    size = _DTYPES[dtype][1]
    if len(data) % size:
        raise ValueError('buffer of %d bytes is not a whole number of %s elements' % (len(data), dtype))
    count = len(data) // size
    shape = tree.get('shape')
    if not isinstance(shape, list):
        shape = [count]
    n = 1
    for d in shape:
        if type(d) is not int or d < 0:
            raise ValueError('bad ndarray shape %s' % json.dumps(shape))
        n *= d
    if n != count:
        raise ValueError('ndarray shape %s needs %d elements, data has %d' % (json.dumps(shape), n, count))
    np = _numpy()
    if np is not None:
        if not isinstance(data, (bytearray, mmap.mmap)):
            data = bytearray(data)  # writable, so the array is too
        a = np.frombuffer(data, dtype=_NUMPY_DTYPE[dtype])
        if not LITTLE_ENDIAN:
            a = a.astype(a.dtype.newbyteorder('='))
        return a.reshape(shape)
    import array
    a = array.array(_typecode(dtype))
    a.frombytes(data)
    if not LITTLE_ENDIAN and size > 1:
        a.byteswap()
    if tree.get('typed') is True and len(shape) == 1:
        return a
    return NDArray(dtype, shape, a)
