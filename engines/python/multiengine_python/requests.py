"""Work requests -> reply content: decoding arguments, running them in the namespace and encoding
results. A handler returns (content, buffers) or raises: ReplyError for failures the engine
describes itself, anything else from user code (the engine turns both into an error reply)."""

import json

from .errors import ReplyError
from .namespace import Namespace
from .values import Encoder, SerializationError, decode_value


def _malformed(what, value):
    """A request whose content the protocol does not allow: the same ename and words as every
    engine (core/protocol/validate.ts), e.g. ProtocolError: args must be an array, got 5."""
    try:
        got = json.dumps(value)
    except (TypeError, ValueError):
        got = type(value).__name__
    return ReplyError('ProtocolError', '%s, got %s' % (what, got))

def _ends_with_semicolon(code, node):
    """True when the statement is followed by ';' (as in IPython, that hides Out[n])."""
    end_line = getattr(node, 'end_lineno', None)
    end_col = getattr(node, 'end_col_offset', None)
    if end_line is None or end_col is None:  # pragma: no cover
        return code.rstrip().endswith(';')
    lines = code.splitlines()
    if end_line > len(lines):
        return False
    rest = lines[end_line - 1].encode('utf-8')[end_col:].decode('utf-8', 'replace')
    return rest.lstrip().startswith(';')


class Requests(object):
    def __init__(self):
        self.space = Namespace()
        #: Counts execute requests from 1 (errors included); kept across clear.
        self.execution_count = 0
        #: The display module (rich output), loaded by the first execute or apply, not at start-up.
        self._display = None
        self.handlers = {
            'execute_request': self.execute, 'apply_request': self.apply, 'push_request': self.push,
            'pull_request': self.pull, 'keys_request': self.keys, 'clear_request': self.clear,
        }

    def _load_display(self):
        from . import display
        display.install()
        self._display = display
        return display

    def execute(self, msg):
        import ast
        self.execution_count += 1
        n = self.execution_count
        code = msg.content.get('code')
        if not isinstance(code, str):
            raise _malformed('code must be a string', code)
        space = self.space
        filename = '<execute-%d>' % n
        space.register_source(filename, code)
        flags = getattr(ast, 'PyCF_ALLOW_TOP_LEVEL_AWAIT', 0) if 'await' in code or 'async' in code else 0
        tree = ast.parse(code, filename, 'exec')
        last = None
        if tree.body and isinstance(tree.body[-1], ast.Expr) and not _ends_with_semicolon(code, tree.body[-1]):
            last = tree.body.pop()
        body = compile(tree, filename, 'exec', flags, True)
        expr = compile(ast.Expression(last.value), filename, 'eval', flags, True) if last is not None else None
        display = self._display or self._load_display()
        if display.outputs:
            display.take_outputs()  # left by a request that failed
        value = space.user(self._execute, body, expr)
        content = {'status': 'ok', 'execution_count': n}
        if value is not None and not msg.content.get('silent'):
            content['result'] = space.user(repr, value)
            rich = space.user(display.mime_bundle, value, content['result'])
            if rich is not None:
                content['data'] = rich[0]
                if rich[1]:
                    content['metadata'] = rich[1]
        if display.outputs:
            content['outputs'] = display.take_outputs()
        return content, ()

    def _execute(self, body, expr):
        self.space.run_code(body)
        return self.space.run_code(expr) if expr is not None else None

    def apply(self, msg):
        c = msg.content
        args = c.get('args', [])
        if not isinstance(args, list):
            raise _malformed('args must be an array', args)
        try:
            args = [decode_value(a, msg.buffers) for a in args]
        except Exception as e:
            raise ReplyError('SerializationError', 'cannot deserialize the arguments: %s' % e)
        space = self.space
        req = c.get('require', [])
        if not isinstance(req, list) or not all(isinstance(r, str) for r in req):
            raise _malformed('require must be an array of module names', req)
        for name in req:
            space.require(name)
        src = c.get('fn')
        if not isinstance(src, str):
            raise _malformed('fn must be a string', src)
        result = None
        display = self._display or self._load_display()
        if display.outputs:
            display.take_outputs()  # left by a request that failed
        if src.strip():
            result = space.user(space.call, space.compile_function(src), args)
        enc = Encoder()
        try:
            tree = enc.encode(result, 'the result')
        except SerializationError as e:
            raise ReplyError('SerializationError', str(e))
        content = {'status': 'ok', 'result': tree}
        if display.outputs:
            content['outputs'] = display.take_outputs()
        return content, enc.buffers

    def push(self, msg):
        ns = msg.content.get('ns')
        if not isinstance(ns, dict):
            raise _malformed('ns must be an object of names and values', ns)
        values = {}
        for name, tree in ns.items():
            try:
                values[name] = decode_value(tree, msg.buffers)
            except Exception as e:
                raise ReplyError('SerializationError', 'cannot deserialize %s: %s' % (name, e))
        self.space.ns.update(values)  # all or nothing
        return {'status': 'ok'}, ()

    def pull(self, msg):
        names = msg.content.get('names')
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise _malformed('names must be an array of names', names)
        ns = self.space.ns
        enc = Encoder()
        values = []
        for name in names:
            if not isinstance(name, str) or name not in ns:
                raise ReplyError('NameError', 'name %r is not defined' % (name,))
            try:
                values.append(enc.encode(ns[name], name))
            except SerializationError as e:
                raise ReplyError('SerializationError', str(e))
        return {'status': 'ok', 'values': values}, enc.buffers

    def keys(self, msg):
        return {'status': 'ok', 'keys': self.space.keys()}, ()

    def clear(self, msg):
        self.space.reset()
        return {'status': 'ok'}, ()
