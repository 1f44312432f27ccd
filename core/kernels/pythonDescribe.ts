/** The Python engine's namespace probe (see EngineLanguage.describeNames): a block ending with a def, evaluated in the engine's namespace. */
export const PYTHON_DESCRIBE = `def __multiengine_describe(names):
    import sys, reprlib, json
    g = globals()
    r = reprlib.Repr()
    r.maxstring = 60
    r.maxother = 60
    r.maxlist = 8
    r.maxtuple = 8
    r.maxset = 8
    r.maxdict = 6
    def as_json(v):
        # The value as JSON with sorted keys, when small and plain: values compare across languages.
        try:
            if hasattr(v, '__len__') and not isinstance(v, type) and len(v) > 2000:
                return None
            if hasattr(v, 'tolist') and not isinstance(v, type):
                v = v.tolist()
            s = json.dumps(v, sort_keys=True, allow_nan=False)
            return s if len(s) <= 10000 else None
        except Exception:
            return None
    out = []
    for n in names:
        if n not in g:
            continue
        v = g[n]
        t = type(v)
        tn = t.__name__ if t.__module__ == 'builtins' else t.__module__ + '.' + t.__name__
        shape = None
        length = None
        try:
            s = getattr(v, 'shape', None)
            if isinstance(s, tuple) and all(isinstance(d, int) for d in s):
                shape = list(s)
        except Exception:
            pass
        if shape is None and not isinstance(v, type):
            try:
                length = len(v)
            except Exception:
                pass
        try:
            nb = getattr(v, 'nbytes', None)
            nbytes = int(nb) if isinstance(nb, int) else sys.getsizeof(v)
        except Exception:
            nbytes = None
        try:
            rep = r.repr(v)
        except Exception as e:
            rep = '<cannot show: %s>' % type(e).__name__
        out.append({'name': n, 'type': tn, 'shape': shape, 'length': length, 'bytes': nbytes, 'repr': rep if len(rep) <= 100 else rep[:99] + '\u2026', 'json': as_json(v)})
    return out
`;
