"""The fork server: one process imports the engine once, then forks one engine per request.

Starting a Python engine is mostly the interpreter's own start (site, the engine's modules, and
on pyenv a shell shim): ~0.1-0.2 s of CPU each, so 256 engines on 2 cores take 10-30 s. The
controller's local launcher starts one of these per interpreter instead, and asks it for engines;
each fork costs a few ms. The children are ordinary engines: their own pid (signals, interrupt),
namespace and id. Linux only (fork after import is not safe on macOS' system libraries).

    python3 multiengine_engine.py --fork-server

The protocol is JSON lines. On stdin: {"seq": K, "args": [engine arguments]}. On stdout (ours
alone: children never write there): {"seq": K, "pid": P} once forked, {"seq": K, "error": why}
when fork failed; {"out": P, "data": text} for what child P wrote to its stdout or stderr (one
pipe, so the controller can label it and keep the tail that explains an early exit); and
{"exit": P, "code": C, "signal": S} when it ended. When stdin closes (the controller is gone or
done) no more are forked, and this process exits once its last child has.
"""

import codecs
import json
import os
import selectors
import signal
import sys

CHUNK = 65536


class ForkServer:
    def __init__(self, engine_main):
        self.engine_main = engine_main
        self.sel = selectors.DefaultSelector()
        self.children = {}  # pid -> the read end of its output pipe (None once it closed)
        self.decoders = {}
        self.pending = b''
        self.open = True
        self.wake_r, self.wake_w = os.pipe()
        os.set_blocking(self.wake_w, False)
        os.set_blocking(self.wake_r, False)

    def send(self, obj):
        data = (json.dumps(obj) + '\n').encode('utf-8')
        while data:
            data = data[os.write(1, data):]

    def serve(self):
        # Our own SIGINT is not the user's: a Ctrl-C for an engine goes to the engine's pid.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        signal.set_wakeup_fd(self.wake_w)
        self.sel.register(0, selectors.EVENT_READ, 'stdin')
        self.sel.register(self.wake_r, selectors.EVENT_READ, 'wake')
        while self.open or self.children:
            for key, _ in self.sel.select():
                if key.data == 'stdin':
                    self.read_requests()
                elif key.data == 'wake':
                    try:
                        while os.read(self.wake_r, CHUNK):
                            pass
                    except BlockingIOError:
                        pass
                else:
                    self.forward(key.fd, key.data)
            self.reap()
        return 0

    def read_requests(self):
        data = os.read(0, CHUNK)
        if not data:
            self.open = False
            self.sel.unregister(0)
            return
        lines = (self.pending + data).split(b'\n')
        self.pending = lines.pop()
        for line in lines:
            if not line.strip():
                continue
            try:
                req = json.loads(line.decode('utf-8'))
            except ValueError:
                req = None
            if not isinstance(req, dict):
                sys.stderr.write('multiengine fork server: a request is a JSON object, got %r\n' % line[:200])
                continue
            self.fork(req)

    def fork(self, req):
        seq = req.get('seq')
        args = req.get('args')
        if not isinstance(args, list) or not all(isinstance(a, str) for a in args):
            self.send({'seq': seq, 'error': 'args must be a list of strings'})
            return
        r, w = os.pipe()
        sys.stdout.flush()
        sys.stderr.flush()
        try:
            pid = os.fork()
        except OSError as e:
            os.close(r)
            os.close(w)
            self.send({'seq': seq, 'error': 'fork failed: %s' % e})
            return
        if pid == 0:
            self.become_engine(r, w, args)  # never returns
        os.close(w)
        os.set_blocking(r, False)
        self.children[pid] = r
        self.decoders[pid] = codecs.getincrementaldecoder('utf-8')('replace')
        self.sel.register(r, selectors.EVENT_READ, pid)
        self.send({'seq': seq, 'pid': pid})

    def become_engine(self, r, w, args):
        """In the child: drop the server's state and run an engine as its own process would."""
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        self.sel.close()
        for fd in [r, self.wake_r, self.wake_w] + [p for p in self.children.values() if p is not None]:
            os.close(fd)
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.close(devnull)
        os.dup2(w, 1)
        os.dup2(w, 2)
        os.close(w)
        sys.argv = sys.argv[:1] + args
        # A normal interpreter exit from here: atexit handlers and non-daemon threads as in an engine of its own.
        sys.exit(self.engine_main(args))

    def pass_on(self, fd, pid):
        """Reads what an engine wrote once and sends it on; b'' at its end (None: nothing yet)."""
        try:
            data = os.read(fd, CHUNK)
        except BlockingIOError:
            return None
        except OSError:
            data = b''
        text = self.decoders[pid].decode(data, final=not data)
        if text:
            self.send({'out': pid, 'data': text})
        return data

    def forward(self, fd, pid):
        if self.pass_on(fd, pid) == b'':
            self.sel.unregister(fd)
            os.close(fd)
            self.children[pid] = None

    def reap(self):
        while self.children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            fd = self.children.pop(pid, None)
            if fd is not None:
                # What it wrote last is still in the pipe: pass it on before its exit.
                self.sel.unregister(fd)
                while self.pass_on(fd, pid):
                    pass
                os.close(fd)
            self.decoders.pop(pid, None)
            sig = os.WTERMSIG(status) if os.WIFSIGNALED(status) else None
            code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else None
            self.send({'exit': pid, 'code': code, 'signal': sig})


def serve(engine_main):
    """Serves fork requests until stdin closes and the last child has ended; engine_main(args) runs in each child."""
    if not hasattr(os, 'fork'):
        sys.stderr.write('multiengine fork server: this system has no fork\n')
        return 2
    return ForkServer(engine_main).serve()
