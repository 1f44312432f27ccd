"""Interrupts: SIGINT, sent to the engine's own main thread, raises KeyboardInterrupt in user code
and never in the engine's own work."""

import os
import signal
import threading

from .wire import log

try:  # signal.getsignal converts the handler to an enum member, which costs more than a small request
    from _signal import getsignal as _getsignal
except ImportError:  # pragma: no cover
    _getsignal = signal.getsignal


class Interrupts(object):
    """Made on the main thread; `space.in_user_code` says whether user code runs, `handling()`
    whether a request is being handled (its user code may not have started yet)."""

    def __init__(self, space, handling):
        self.space = space
        self.handling = handling
        self._main_ident = threading.get_ident()
        self._controller_interrupts = 0

    def interrupt(self):
        """Raise KeyboardInterrupt in the running code (SIGINT to the main thread of this process)."""
        self._controller_interrupts += 1
        if hasattr(signal, 'pthread_kill'):
            signal.pthread_kill(self._main_ident, signal.SIGINT)
        elif hasattr(os, 'kill') and hasattr(signal, 'pthread_sigmask'):  # pragma: no cover
            os.kill(os.getpid(), signal.SIGINT)
        else:  # pragma: no cover - Windows
            import _thread
            _thread.interrupt_main()

    def install(self):
        signal.signal(signal.SIGINT, self._on_sigint)

    def reinstall(self):
        """After a request: user code may have replaced the handler."""
        if _getsignal(signal.SIGINT) != self._on_sigint:
            self.install()

    def _on_sigint(self, signum, frame):
        """SIGINT interrupts user code only, never the engine's own work (a frame half sent would
        break the connection). An interrupt_request that finds no request running is ignored; one
        that finds a request before its user code started interrupts that code when it starts;
        a SIGINT from outside (Ctrl-C in the terminal of an engine run by hand, kill -INT) while
        no user code runs makes the engine exit, as Ctrl-C does to any foreground program."""
        if self._controller_interrupts > 0:
            self._controller_interrupts -= 1
            if self.space.in_user_code:
                raise KeyboardInterrupt
            if self.handling():
                # The request has begun and its code has not (or is between two of its parts):
                # the interrupt is its own, and taken when its code starts.
                self.space.interrupt_pending = True
            return
        if self.space.in_user_code:
            raise KeyboardInterrupt
        log('exiting: SIGINT while no user code runs')
        os._exit(130)
