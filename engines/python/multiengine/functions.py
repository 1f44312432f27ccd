"""Python functions -> the source text an engine runs (apply_request.fn).

Python engines get the function's source: for a lambda, the lambda itself cut out of its line
(a lambda in the middle of a call line is found with ast and, where Python records them
(3.11+), the columns of its code); for a def, the def without its decorators. The names it
uses that are not its own resolve in the engine's namespace, as they would in a module there.
Closures over plain values and default arguments go as values: the source is then wrapped in a
`def __me_call(__me_env, *args)` that binds the closure's names, sets the defaults and calls
the function with keyword arguments from `__me_env`. docs/python-client.md lists the limits.
Node engines take JavaScript source text (a string), which goes as it is.
"""

import ast
import inspect
import sys
import textwrap
import types

NODE_MAP = ('(f, ...seqs) => { const n = seqs.length === 0 ? 0 : Math.min(...seqs.map((s) => s.length)); '
            'const out = new Array(n); let thenable = false; for (let i = 0; i < n; i++) { '
            'const r = f(...seqs.map((s) => s[i])); '
            "if (r !== null && typeof r === 'object' && typeof r.then === 'function') thenable = true; out[i] = r; } "
            'return thenable ? Promise.all(out) : out; }')
_LAMBDA = '__me_f'


class Shipped(object):
    """What a function becomes on the wire: `src` (engine-ready text) and `env` (a dict of values
    passed as the first argument, or None)."""

    __slots__ = ('src', 'env', 'name', 'kernel')

    def __init__(self, src, env, name, kernel):
        self.src = src
        self.env = env
        self.name = name
        self.kernel = kernel


def _where(f):
    name = getattr(f, '__qualname__', None) or getattr(f, '__name__', None) or repr(f)
    return 'function %s' % name


def _source_lines(f):
    try:
        lines, lnum = inspect.findsource(f)
    except (OSError, TypeError) as e:
        raise TypeError('cannot send %s to the engines: its source is not available (%s); define it in a file, in '
                        'IPython or Jupyter, or pass its source text as a string' % (_where(f), e))
    return lines, lnum


def _lambda_candidates(text):
    """(start, end, src) of every lambda expression in `text` (the longest prefix after each
    `lambda` keyword that parses as a lambda)."""
    import io
    import tokenize
    starts = []
    try:
        for tok in tokenize.generate_tokens(io.StringIO(text).readline):
            if tok.type == tokenize.NAME and tok.string == 'lambda':
                starts.append(tok.start)
    except (tokenize.TokenError, IndentationError, SyntaxError):
        pass  # a fragment of a statement: the lambdas before the error are enough
    line_starts = [0]
    for line in text.splitlines(True):
        line_starts.append(line_starts[-1] + len(line))
    out = []
    for row, col in starts:
        if row != 1:
            break  # a lambda's code records the line its keyword is on: the first one here
        p = line_starts[row - 1] + col
        best = None
        for end in range(p + 7, min(len(text), p + 4000) + 1):
            if end < len(text) and text[end] not in ',)]}:;\n \t#':
                continue
            chunk = text[p:end]
            try:
                node = ast.parse('(' + chunk + '\n)', mode='eval').body
            except SyntaxError:
                continue
            if isinstance(node, ast.Lambda):
                best = (p, end, chunk.strip())
        if best:
            out.append(best)
    return out


def _lambda_source(f):
    lines, lnum = _source_lines(f)
    text = ''.join(lines[lnum:lnum + 60])
    code = f.__code__
    cands = _lambda_candidates(text)
    nargs = code.co_argcount + code.co_kwonlyargcount + bool(code.co_flags & 4) + bool(code.co_flags & 8)
    want = code.co_varnames[:nargs]

    def args_of(src):
        node = ast.parse('(' + src + '\n)', mode='eval').body
        a = node.args
        names = [x.arg for x in getattr(a, 'posonlyargs', []) + a.args + a.kwonlyargs]
        if a.vararg:
            names.insert(len(getattr(a, 'posonlyargs', [])) + len(a.args), a.vararg.arg)
        if a.kwarg:
            names.append(a.kwarg.arg)
        return tuple(names)
    same = [c for c in cands if sorted(args_of(c[2])) == sorted(want)]
    if len(same) > 1:
        same = _by_columns(code, text, same) or same
    if len(same) > 1:
        same = [c for c in same if _compiles_like(c[2], code)] or same
    if not same:
        raise TypeError('cannot send %s to the engines: no lambda with its arguments %s on line %d of its source; '
                        'define it with def, or pass its source text as a string' % (_where(f), want, lnum + 1))
    if len(same) > 1 and len(set(c[2] for c in same)) > 1:
        raise TypeError('cannot send %s to the engines: line %d has several lambdas it could be (%s); define it with '
                        'def, or pass its source text as a string' % (_where(f), lnum + 1, ', '.join(c[2] for c in same)))
    return same[0][2]


def _by_columns(code, text, cands):
    """The candidates whose span holds the columns Python recorded for the lambda's code (3.11+)."""
    positions = getattr(code, 'co_positions', None)
    if positions is None:
        return None
    first = code.co_firstlineno
    cols = [(line - first, col) for line, _, col, end in positions()
            if line is not None and col is not None and end is not None and end > col]  # (RESUME spans nothing)
    if not cols:
        return None
    lines = text.splitlines(True)
    offsets = [0]
    for line in lines:
        offsets.append(offsets[-1] + len(line))

    def char_at(row, byte_col):
        if row >= len(lines):
            return None
        return offsets[row] + len(lines[row].encode('utf-8')[:byte_col].decode('utf-8', 'replace'))
    points = [p for p in (char_at(r, c) for r, c in cols) if p is not None]
    holding = [c for c in cands if all(c[0] <= p < c[1] for p in points)]
    # A lambda inside another: both spans hold the inner one's columns; the narrowest is it.
    return sorted(holding, key=lambda c: c[1] - c[0])[:1]


def _compiles_like(src, code):
    try:
        inner = [c for c in compile(src, '<lambda>', 'eval').co_consts if hasattr(c, 'co_code')][0]
    except (SyntaxError, IndexError):
        return False
    return inner.co_consts == code.co_consts and set(inner.co_names) | set(inner.co_freevars) == set(code.co_names) | set(code.co_freevars)


def _def_source(f):
    lines, lnum = _source_lines(f)
    block = inspect.getblock(lines[lnum:])
    src = textwrap.dedent(''.join(block))
    mod = ast.parse(src)
    node = mod.body[0]
    if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        raise TypeError('cannot send %s to the engines: its source does not start with a def' % _where(f))
    return ''.join(src.splitlines(True)[node.lineno - 1:]), node.name


def _without_defaults(src):
    """The source with every default value replaced by None: they are evaluated here and sent
    as values, and their expressions may name things the engine does not have."""
    if not hasattr(ast, 'unparse'):  # Python 3.8: the defaults are evaluated on the engine too
        return src
    wrapped = '(' + src + '\n)' if src.lstrip().startswith('lambda') else src
    mod = ast.parse(wrapped)
    node = mod.body[0]
    target = node.value if isinstance(node, ast.Expr) else node
    target.args.defaults = [ast.Constant(None) for _ in target.args.defaults]
    target.args.kw_defaults = [None if d is None else ast.Constant(None) for d in target.args.kw_defaults]
    return ast.unparse(target)


def _cells(f):
    """The closure's names and values (the function itself, for recursion, is left to its def)."""
    names, values = [], []
    for name, cell in zip(f.__code__.co_freevars, f.__closure__ or ()):
        try:
            v = cell.cell_contents
        except ValueError:
            raise TypeError('cannot send %s to the engines: its closure variable %s has no value yet' % (_where(f), name))
        if v is f or name == f.__name__ or isinstance(v, types.ModuleType):
            continue  # the function itself (recursion) is its def; a module is imported on the engines by name
        if callable(v) and not isinstance(v, type):
            raise TypeError('cannot send %s to the engines: it uses %s, a function from its enclosing scope; define '
                            '%s at the top level (and push or define it on the engines)' % (_where(f), name, name))
        names.append(name)
        values.append(v)
    return names, values


def user_block(src):
    """(block, name): Python source text as statements that bind the function to `name`."""
    text = textwrap.dedent(src).strip('\n')
    try:
        ast.parse(text.strip(), mode='eval')
        return '%s = %s' % (_LAMBDA, text.strip()), _LAMBDA
    except SyntaxError:
        pass
    mod = ast.parse(text)
    last = mod.body[-1] if mod.body else None
    if isinstance(last, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return text, last.name
    if isinstance(last, ast.Expr):
        lines = text.splitlines()
        head = '\n'.join(lines[:last.lineno - 1])
        tail = '\n'.join(lines[last.lineno - 1:])
        return '%s\n%s = (%s)' % (head, _LAMBDA, tail), _LAMBDA
    raise TypeError('fn must be Python source of an expression that gives a callable (such as a lambda) or a block '
                    'that ends with a def')


def python_function(f):
    """(block, name, env) of a Python callable; env is None when it needs no values."""
    if isinstance(f, str):
        block, name = user_block(f)
        return block, name, None
    if _by_reference(f):
        return _builtin(f), _LAMBDA, None
    if not inspect.isfunction(f):
        raise TypeError('cannot send %r to the engines: only functions, lambdas and source text can be sent' % (f,))
    hit = _blocks.get(f.__code__)
    if hit is None:
        if len(_blocks) >= 512:
            _blocks.clear()
        hit = _blocks[f.__code__] = _function_block(f)
    block, name = hit
    return _with_values(f, block, name)


#: (block, name) by code object: finding a function's source is slow, and the same lambda is sent again and again.
_blocks = {}


def _function_block(f):
    if f.__name__ == '<lambda>':
        src = _lambda_source(f)
        if f.__defaults__ or f.__kwdefaults__:
            src = _without_defaults(src)
        block, name = '%s = %s' % (_LAMBDA, src if '\n' not in src else '(%s)' % src), _LAMBDA
    else:
        block, name = _def_source(f)
        if f.__defaults__ or f.__kwdefaults__:
            block = _without_defaults(block)
    return block, name


def _with_values(f, block, name):
    names, values = _cells(f)
    env = {}
    if names:
        env['c'] = values
        block = '\n'.join('%s = __me_env[%r][%d]' % (n, 'c', i) for i, n in enumerate(names)) + '\n' + block
    if f.__defaults__:
        env['d'] = list(f.__defaults__)
        block += '\n%s.__defaults__ = tuple(__me_env[%r])' % (name, 'd')
    if f.__kwdefaults__:
        env['k'] = dict(f.__kwdefaults__)
        block += '\n%s.__kwdefaults__ = __me_env[%r]' % (name, 'k')
    return block, name, env or None


def _by_reference(f):
    """Builtins, classes and the standard library's functions go by name, as pickle sends them."""
    mod = getattr(f, '__module__', None)
    if not mod or '<' in getattr(f, '__qualname__', '<'):
        return False
    if isinstance(f, (types.BuiltinFunctionType, type)):
        return True
    stdlib = getattr(sys, 'stdlib_module_names', ())
    return inspect.isfunction(f) and mod.partition('.')[0] in stdlib and mod != '__main__'


def _builtin(f):
    """A function by name: `str`, or `__import__('posixpath').basename`."""
    mod, name = f.__module__, f.__qualname__
    if mod == 'builtins':
        return '%s = %s' % (_LAMBDA, name)
    top, _, rest = mod.partition('.')
    return "%s = __import__(%r)%s.%s" % (_LAMBDA, mod, ''.join('.' + p for p in rest.split('.') if p), name)


def _wrap(block, call, with_env):
    head = 'def __me_call(__me_env, *__me_args):' if with_env else 'def __me_call(*__me_args):'
    return '%s\n%s\n    return %s\n' % (head, textwrap.indent(block, '    '), call)


def ship_python(f, kwargs=None, mapping=False):
    """Shipped for a Python engine: apply (fn(*args, **kwargs)) or, with `mapping`, map over the
    zipped argument sequences."""
    code = getattr(f, '__code__', None)
    plain = code is not None and not (kwargs or f.__closure__ or f.__defaults__ or f.__kwdefaults__)
    if plain:  # no values to send: the same Shipped every time (a burst of apply_async sends one function)
        hit = _shipped.get((code, mapping))
        if hit is not None:
            return hit
    shipped = _ship_python(f, kwargs, mapping)
    if plain:
        if len(_shipped) >= 512:
            _shipped.clear()
        _shipped[(code, mapping)] = shipped
    return shipped


_shipped = {}


def _ship_python(f, kwargs, mapping):
    block, name, env = python_function(f)
    if kwargs:
        env = dict(env or {})
        env['kw'] = kwargs
    if mapping:
        call = '[%s(*__me_a%s) for __me_a in zip(*__me_args)]' % (name, ", **__me_env['kw']" if kwargs else '')
        return Shipped(_wrap(block, call, env is not None), env, name, 'python')
    if env is None:
        if isinstance(f, str):
            return Shipped(f, None, name, 'python')
        if name == _LAMBDA:
            return Shipped(block[len(_LAMBDA) + 3:], None, name, 'python')
        return Shipped(block, None, name, 'python')
    call = '%s(*__me_args%s)' % (name, ", **__me_env['kw']" if kwargs else '')
    return Shipped(_wrap(block, call, True), env, name, 'python')


def ship_node(f, kwargs=None, mapping=False, engine_id=None):
    """Shipped for a node engine: JavaScript source text only."""
    if not isinstance(f, str):
        raise TypeError('engine %s runs node (JavaScript): pass the function as JavaScript source text, '
                        "e.g. '(x) => x * 2', not a Python %s" % (engine_id, type(f).__name__))
    if kwargs:
        raise TypeError('engine %s runs node (JavaScript): its functions take no keyword arguments' % engine_id)
    if mapping:
        return Shipped(NODE_MAP, {'$t': 'function', 'src': f, 'name': ''}, '', 'node')
    return Shipped(f, None, '', 'node')


def ship(f, kernel, kwargs=None, mapping=False, engine_id=None):
    if kernel == 'node':
        return ship_node(f, kwargs, mapping, engine_id)
    return ship_python(f, kwargs, mapping)


def definer(functions, with_values=False):
    """(source, envs) for apply: a function that, called with `envs`, defines each function of
    `functions` ({name: function}) in the engine's namespace under its name, each in a scope of
    its own (so their closures stay apart); `with_values`: called with a dict of values first,
    which it binds too. The source stays on each function as `__multiengine_push__` (block,
    name, env), for pull_function; a builtin takes no attribute."""
    defs, envs = [], []
    for i, (key, f) in enumerate(functions.items()):
        if not isinstance(key, str) or not key.isidentifier():
            raise ValueError('a function is defined on the engines under a variable name, got %r' % (key,))
        block, name, env = python_function(f)
        keep = 'try:\n    %s.__multiengine_push__ = (%r, %r, %s)\nexcept (AttributeError, TypeError):\n    pass' % (
            name, block, name, 'None' if env is None else '__me_env')
        body = '%s\n%s\nglobals()[%r] = %s' % (block, keep, key, name)
        defs.append('def __me_define(__me_env):\n%s\n__me_define(__me_envs[%d])' % (textwrap.indent(body, '    '), i))
        envs.append(env)
    head = 'def __me_push(__me_values, __me_envs):\n    globals().update(__me_values)\n' if with_values else 'def __me_push(__me_envs):\n'
    return head + textwrap.indent('\n'.join(defs), '    ') + '\n', envs
