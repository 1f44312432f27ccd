"""Rich output on the engine: the MIME bundle of a value (its `_repr_html_`, `_repr_png_`, …, or
`_repr_mimebundle_`, as IPython formats it) and `display(obj)`, whose bundles go back with the
request's reply as `outputs` (docs/protocol.md, Rich output). The engine imports no IPython:
`display` is a builtin here, and `IPython.display.display` is redirected to it when user code
imports IPython.display (that module prints instead when no IPython shell runs)."""

import builtins
import json
import sys

#: The formats a value may offer beyond text/plain, by IPython's method names.
_METHODS = (
    ('text/html', '_repr_html_'), ('text/markdown', '_repr_markdown_'), ('image/svg+xml', '_repr_svg_'),
    ('image/png', '_repr_png_'), ('image/jpeg', '_repr_jpeg_'), ('text/latex', '_repr_latex_'),
    ('application/json', '_repr_json_'), ('application/javascript', '_repr_javascript_'),
)
_BINARY = ('image/png', '_repr_png_'), ('image/jpeg', '_repr_jpeg_')
#: Values of these types have only their repr: checked first, so plain results cost nothing more.
_PLAIN = frozenset([int, float, complex, str, bytes, bool, list, tuple, dict, set, frozenset, type(None)])

#: The bundles display() published during the request running now.
outputs = []


def _method(obj, name):
    """obj.name when it is a formatter method (not on a class, not a __getattr__ catch-all's guess)."""
    if isinstance(obj, type):
        return None
    try:
        m = getattr(obj, name, None)
    except Exception:
        return None
    return m if callable(m) else None


def _jsonable(mime, value):
    """A format's value as the wire carries it: text, base64 for binary images, a JSON tree as is."""
    if isinstance(value, bytes):
        import base64  # only images need it: not imported at engine start
        return base64.b64encode(value).decode('ascii') if mime.startswith('image/') else value.decode('utf-8', 'replace')
    if mime == 'application/json':
        json.dumps(value)  # not JSON: this format is left out
        return value
    return value if isinstance(value, str) else str(value)


def _formatted(obj):
    """({mime: value}, {mime: metadata}) of the rich formats obj offers (text/plain not included)."""
    data, meta = {}, {}
    bundle = _method(obj, '_repr_mimebundle_')
    if bundle is not None:
        try:
            got = bundle(include=None, exclude=None)
        except Exception:
            got = None
        if isinstance(got, tuple) and len(got) == 2:
            got, md = got
            if isinstance(md, dict):
                meta.update(md)
        if isinstance(got, dict):
            for mime, value in got.items():
                try:
                    data[mime] = _jsonable(mime, value)
                except Exception:
                    pass
    for mime, name in _METHODS:
        if mime in data:
            continue
        m = _method(obj, name)
        if m is None:
            continue
        try:
            value = m()
            if isinstance(value, tuple) and len(value) == 2:
                value, md = value
                if isinstance(md, dict):
                    meta[mime] = md
            if value is not None:
                data[mime] = _jsonable(mime, value)
        except Exception:
            pass  # a broken formatter costs that format only, as in IPython
    return data, meta


def mime_bundle(obj, text=None):
    """(data, metadata) with text/plain (repr, or `text`) and every rich format obj offers;
    None when it offers none (the reply's `result` text says it all)."""
    if type(obj) in _PLAIN:
        return None
    data, meta = _formatted(obj)
    if not data:
        return None
    if 'text/plain' not in data:
        data['text/plain'] = repr(obj) if text is None else text
    return data, meta


def display(*objs, **kwargs):
    """IPython's display(): each object's bundle (or, with raw=True, each dict as a bundle) is
    published with the reply of the request that runs now."""
    raw = kwargs.get('raw', False)
    extra = kwargs.get('metadata') or {}
    for obj in objs:
        if raw and isinstance(obj, dict):
            data, meta = dict(obj), {}
        else:
            got = mime_bundle(obj)
            data, meta = got if got is not None else ({'text/plain': repr(obj)}, {})
        if isinstance(extra, dict):
            meta.update(extra)
        outputs.append({'data': data, 'metadata': meta})


def take_outputs():
    """The bundles published since the last call (and a fresh list for the next request)."""
    global outputs
    got = outputs
    outputs = []
    return got


class _RedirectIPythonDisplay(object):
    """A meta path finder that, once IPython's display functions are imported, makes their
    `display` this engine's: user code written for IPython kernels then works unchanged."""
    TARGETS = ('IPython.core.display_functions', 'IPython.core.display', 'IPython.display')

    def find_spec(self, name, path=None, target=None):
        if name not in self.TARGETS:
            return None
        import importlib.util
        sys.meta_path.remove(self)
        try:
            spec = importlib.util.find_spec(name)
        finally:
            sys.meta_path.insert(0, self)
        if spec is None or spec.loader is None:
            return spec
        run = spec.loader.exec_module

        def exec_module(module):
            run(module)
            if 'display' in module.__dict__:
                module.display = display
        spec.loader.exec_module = exec_module
        return spec


def install():
    """`display` as a builtin (as in IPython) and IPython.display's display redirected here."""
    if not hasattr(builtins, 'display'):
        builtins.display = display
    for name in _RedirectIPythonDisplay.TARGETS:
        mod = sys.modules.get(name)
        if mod is not None and 'display' in mod.__dict__:
            mod.display = display
    if not any(isinstance(f, _RedirectIPythonDisplay) for f in sys.meta_path):
        sys.meta_path.insert(0, _RedirectIPythonDisplay())
