"""Error replies: errors the engine describes itself, and exceptions from user code with the
engine's own frames left out of their tracebacks."""

import os
import sys

#: Frames of files in this folder are the engine's own: tracebacks leave them out.
ENGINE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep


class ReplyError(Exception):
    """A request failed in a way the engine describes itself (no user traceback)."""

    def __init__(self, ename, evalue, traceback=None):
        Exception.__init__(self, evalue)
        self.ename = ename
        self.evalue = evalue
        self.traceback = traceback or []

    def content(self):
        return {'status': 'error', 'ename': self.ename, 'evalue': self.evalue, 'traceback': self.traceback}


def _is_engine_file(filename, asyncio_used):
    if filename.startswith(ENGINE_DIR):
        return True
    aio = sys.modules.get('asyncio') if asyncio_used else None
    return aio is not None and filename.startswith(os.path.dirname(aio.__file__) + os.sep)


def error_content(e, asyncio_used=False):
    """Error reply content for an exception from user code: the traceback starts at the user's
    code (engine frames before it are left out, and so are engine frames after it, such as the
    SIGINT handler that raised KeyboardInterrupt). `asyncio_used`: the engine's event loop ran
    user code, so asyncio's frames are the engine's too."""
    import traceback
    tb = e.__traceback__
    while tb is not None and _is_engine_file(tb.tb_frame.f_code.co_filename, asyncio_used):
        tb = tb.tb_next
    try:
        te = traceback.TracebackException(type(e), e, tb)
        while te.stack and _is_engine_file(te.stack[-1].filename, asyncio_used):
            te.stack.pop()
        lines = ''.join(te.format()).rstrip('\n').split('\n')
    except Exception:
        lines = []
    try:
        evalue = str(e)
    except Exception:
        evalue = '<unprintable %s>' % type(e).__name__
    return {'status': 'error', 'ename': type(e).__name__, 'evalue': evalue, 'traceback': lines}
