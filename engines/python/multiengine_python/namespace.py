"""The user namespace: a fresh `__main__` module, the code that runs in it (with top-level await on
the engine's own event loop) and apply's function source compiled once per text."""

import builtins
import sys
import types

from .errors import ReplyError

_CO_COROUTINE = 0x0080


class Namespace(object):
    """`ns` is the namespace's dict; `in_user_code` is true while user code runs (the SIGINT
    handler interrupts only that)."""

    def __init__(self):
        self.in_user_code = False
        #: The controller interrupted this request before its user code started: it is
        #: interrupted as soon as that starts (as the node engine's interrupt epochs do).
        self.interrupt_pending = False
        #: Installed as sys.modules['__main__'] (once the engine serves requests, not in unit tests).
        self.install_main = False
        self.loop = None
        self._fn_cache = {}
        self._fn_counter = 0
        self.reset()

    def reset(self):
        mod = types.ModuleType('__main__')
        mod.__dict__['__builtins__'] = builtins
        self.module = mod
        self.ns = mod.__dict__
        if self.install_main:
            sys.modules['__main__'] = mod  # pickle and `import __main__` see the user namespace

    def keys(self):
        """The user-defined names, sorted: no __dunder__ names, no names bound to the builtin of that name."""
        b = builtins.__dict__
        return sorted(k for k, v in self.ns.items()
                      if not (k.startswith('__') and k.endswith('__')) and not (k in b and b[k] is v))

    def _await(self, coro):
        """Runs a coroutine to its end on the engine's event loop (made when first needed)."""
        if self.loop is None:
            import asyncio
            self.loop = asyncio.new_event_loop()
            asyncio.set_event_loop(self.loop)
        return self.loop.run_until_complete(coro)

    def run_code(self, code):
        """Runs a code object in the namespace; top-level await runs on the engine's event loop."""
        r = eval(code, self.ns)
        if code.co_flags & _CO_COROUTINE:
            r = self._await(r)
        return r

    def user(self, fn, *args):
        """fn(*args) as user code: SIGINT may interrupt it."""
        self.in_user_code = True
        try:
            if self.interrupt_pending:
                self.interrupt_pending = False
                raise KeyboardInterrupt
            return fn(*args)
        finally:
            self.in_user_code = False

    def register_source(self, filename, src):
        import linecache
        linecache.cache[filename] = (len(src), None, src.splitlines(True), filename)

    def call(self, compiled, args):
        """Calls the function compile_function made (awaiting a coroutine's result)."""
        kind = compiled[0]
        if kind == 'expr':
            fn = eval(compiled[1], self.ns)
        elif kind == 'ns':
            exec(compiled[1], self.ns)
            fn = eval(compiled[2], self.ns)
        else:
            scope = {}
            exec(compiled[1], self.ns, scope)
            fn = scope['__multiengine_fn__']()
        r = fn(*args)
        if type(r) is types.CoroutineType:
            r = self._await(r)
        return r

    def require(self, name):
        """`import name` in the namespace (the top-level name is bound); UnmetDependencyError when it fails."""
        if not isinstance(name, str) or not name:
            raise ReplyError('UnmetDependencyError', 'require names a module by a non-empty string, got %r' % (name,))
        try:
            top = self.user(__import__, name)
        except KeyboardInterrupt:
            raise
        except BaseException as e:
            raise ReplyError('UnmetDependencyError', 'cannot import %s: %s: %s' % (name, type(e).__name__, e))
        self.ns[name.split('.')[0]] = top

    def compile_function(self, src):
        """('expr', code) for an expression such as a lambda, ('block', code) for a def block. A def
        block is wrapped in a factory function, so the function's own name is a closure (recursion
        works) and is not bound in the namespace; its free names resolve in the namespace."""
        hit = self._fn_cache.get(src)
        if hit is not None:
            return hit
        import ast
        self._fn_counter += 1
        filename = '<apply-%d>' % self._fn_counter
        self.register_source(filename, src)
        try:
            result = ('expr', compile(ast.parse(src.strip(), filename, 'eval'), filename, 'eval', 0, True))
        except SyntaxError:
            mod = ast.parse(src, filename, 'exec')  # a real syntax error is reported from here
            if not mod.body:
                raise ReplyError('TypeError', 'fn is empty')
            last = mod.body[-1]
            if isinstance(last, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                ret = ast.Return(value=ast.Name(id=last.name, ctx=ast.Load()))
            elif isinstance(last, ast.Expr):
                mod.body.pop()
                ret = ast.Return(value=last.value)
            else:
                raise ReplyError('TypeError', 'fn must be a Python expression that gives a callable (such as a '
                                              'lambda) or a block of statements that ends with a def')
            ast.copy_location(ret, last)
            factory = ast.parse('def __multiengine_fn__():\n    pass\n', filename, 'exec')
            factory.body[0].body = mod.body + [ret]
            ast.fix_missing_locations(factory)
            try:
                result = ('block', compile(factory, filename, 'exec', 0, True))
            except SyntaxError:
                # e.g. `from m import *` is not allowed inside a function: run the block in the namespace itself
                result = ('ns', compile(mod, filename, 'exec', 0, True),
                          compile(ast.Expression(ret.value), filename, 'eval', 0, True))
        if len(self._fn_cache) >= 256:
            import linecache
            self._fn_cache.clear()
            for name in [k for k in linecache.cache if isinstance(k, str) and k.startswith('<apply-')]:
                del linecache.cache[name]
            self.register_source(filename, src)
        self._fn_cache[src] = result
        return result
