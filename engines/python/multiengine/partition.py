"""Splitting sequences into per-engine blocks (scatter, map, parallel) and joining the blocks
in target order (gather, map): contiguous blocks differing in length by at most one, the first
ones taking the extra, as ipyparallel's dist='b' and the TypeScript client do."""

import sys


def block_bounds(length, parts):
    if parts < 1:
        raise ValueError('cannot split into %d parts' % parts)
    base, extra = divmod(length, parts)
    out, start = [], 0
    for i in range(parts):
        n = base + (1 if i < extra else 0)
        out.append((start, start + n))
        start += n
    return out


def is_sequence(v):
    """What scatter and map split: lists, tuples, ranges, numpy arrays (along the first axis)."""
    np = sys.modules.get('numpy')
    if np is not None and isinstance(v, np.ndarray):
        return v.ndim >= 1
    return isinstance(v, (list, tuple, range))


def as_sequence(v, what):
    """`v` as something partition can slice: other iterables (sets, generators) are read into a list."""
    if is_sequence(v):
        return v
    if isinstance(v, (str, bytes)):
        raise TypeError('%s: got a %s; map over a list of values (e.g. list(s) for its characters)' % (what, type(v).__name__))
    try:
        return list(v)
    except TypeError:
        raise TypeError('%s: expected a sequence or other iterable, got %s' % (what, type(v).__name__))



def map_sequences(sequences):
    """map's arguments as sliceable sequences of one length: (sequences, length)."""
    if not sequences:
        raise TypeError('map needs at least one sequence to map over')
    seqs = [as_sequence(s, 'map: argument %d' % (i + 2)) for i, s in enumerate(sequences)]
    lengths = [len(s) for s in seqs]
    if len(set(lengths)) > 1:
        raise ValueError('map: the sequences have different lengths (%s)' % ', '.join(map(str, lengths)))
    return seqs, lengths[0]

def partition(seq, parts):
    """`seq` split into `parts` contiguous blocks (lists stay lists, ranges become lists, arrays stay arrays)."""
    out = []
    for s, e in block_bounds(len(seq), parts):
        block = seq[s:e]
        out.append(list(block) if isinstance(block, range) else block)
    return out


def concatenate(blocks):
    """The blocks joined in order: numpy arrays along the first axis, strings by concatenation,
    everything else flattened one level (lists spread, other values kept)."""
    if not blocks:
        return []
    np = sys.modules.get('numpy')
    if np is not None and all(isinstance(b, np.ndarray) and b.ndim >= 1 for b in blocks):
        return np.concatenate(blocks)
    if all(isinstance(b, str) for b in blocks):
        return ''.join(blocks)
    out = []
    for b in blocks:
        if isinstance(b, (list, tuple)) or (np is not None and isinstance(b, np.ndarray) and b.ndim >= 1):
            out.extend(b)
        else:
            out.append(b)
    return out


def flatten_once(blocks):
    out = []
    for b in blocks:
        out.extend(b)
    return out
