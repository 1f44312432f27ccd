"""The engine's own report of its host, CPU and memory (heartbeat.stats, protocol section 7),
measured in the heart thread: time.process_time() counts every thread of the process, so a main
thread busy in user code is measured too."""

import os
import socket
import time

#: A report goes with the first beat and then about this often (protocol: STATS_INTERVAL_MS).
STATS_INTERVAL_SECONDS = 1.0


try:
    _PAGE = os.sysconf('SC_PAGE_SIZE')
except (AttributeError, ValueError, OSError):
    _PAGE = 4096


def _rss():
    """Resident memory in bytes: /proc/self/statm where there is one, else the peak (getrusage)."""
    try:
        with open('/proc/self/statm', 'rb') as f:
            return int(f.read().split()[1]) * _PAGE
    except (OSError, ValueError, IndexError):
        pass
    try:
        import resource
        import sys
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return int(peak if sys.platform == 'darwin' else peak * 1024)  # bytes on macOS, KiB elsewhere
    except (ImportError, OSError, ValueError):
        return 0


def _mem_total():
    try:
        return int(os.sysconf('SC_PHYS_PAGES') * _PAGE)
    except (AttributeError, ValueError, OSError):
        return None


class ProcessStats(object):
    def __init__(self):
        # The engine's start, which the first report covers. Taken here, not at import: an engine
        # forked from the fork server imported this module in the server, whose CPU time the
        # child does not inherit (it starts at 0), so an import-time start made the first
        # report's CPU negative.
        self._start = (time.monotonic(), time.process_time())
        self._last = None
        self._mem_total = _mem_total()

    def due(self, beat_seconds):
        """The stats content when a report is due (the first beat, then about every second), else
        None: one comparison per beat. Half a beat of slack, so that beats every second each carry
        stats rather than every other one."""
        now = time.monotonic()
        if self._last is not None and now - self._last[0] + beat_seconds / 2 < STATS_INTERVAL_SECONDS:
            return None
        cpu = time.process_time()
        since = self._last or self._start
        self._last = (now, cpu)
        wall = now - since[0]
        stats = {
            'host': socket.gethostname(),
            'cpu': round(100.0 * (cpu - since[1]) / wall, 1) if wall > 0 else 0.0,
            'rss': _rss(),
        }
        if self._mem_total is not None:
            stats['mem_total'] = self._mem_total
        try:
            stats['load'] = os.getloadavg()[0]
        except (AttributeError, OSError):
            pass
        return stats
