"""What the main thread is doing, seen from another thread (docs/protocol.md, "Engine probes").

stack_request and profile_request come on the heart connection, so they are answered while a
request runs. The main thread's frames are read with sys._current_frames(): a stack at once, a
profile by sampling about every SAMPLE_SECONDS on a thread of its own (the GIL's switch interval
lets it run beside a pure-Python busy loop). The main thread is never stopped."""
import sys
import threading
import time

from .wire import log

#: Time between two samples of a profile.
SAMPLE_SECONDS = 0.01


def main_stack(by_function=False):
    """The main thread's frames, outermost first. `by_function`: each frame's line is where its
    function starts (so a profile counts a function once, whatever line it is on)."""
    frame = sys._current_frames().get(threading.main_thread().ident)
    frames = []
    while frame is not None:
        code = frame.f_code
        frames.append({'function': code.co_name, 'file': code.co_filename,
                       'line': code.co_firstlineno if by_function else (frame.f_lineno or 0)})
        frame = frame.f_back
    frames.reverse()
    return frames


class ProfileTable(object):
    """Identical stacks counted, over a table of frames."""

    def __init__(self):
        self.frames = []
        self.frame_ids = {}
        self.stacks = {}
        self.samples = 0
        self.idle = 0

    def add(self, stack):
        """One sample; None: the engine ran no request then."""
        self.samples += 1
        if stack is None:
            self.idle += 1
            return
        ids = []
        for f in stack:
            key = (f['function'], f['file'], f['line'])
            i = self.frame_ids.get(key)
            if i is None:
                i = self.frame_ids[key] = len(self.frames)
                self.frames.append(f)
            ids.append(i)
        key = tuple(ids)
        s = self.stacks.get(key)
        if s is None:
            self.stacks[key] = {'frames': ids, 'count': 1}
        else:
            s['count'] += 1

    def result(self):
        return {'samples': self.samples, 'idle': self.idle, 'frames': self.frames,
                'stacks': list(self.stacks.values())}


def profile(seconds, running):
    """Samples the main thread for `seconds`; `running()` says whether a request runs (else the
    sample counts as idle: the engine waits for work)."""
    table = ProfileTable()
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        started = time.monotonic()
        table.add(main_stack(True) if running() else None)
        wait = SAMPLE_SECONDS - (time.monotonic() - started)
        if wait > 0:
            time.sleep(wait)
    out = table.result()
    out['interval_ms'] = SAMPLE_SECONDS * 1000
    return out


def answer(engine, heart, msg):
    """Answers a stack_request at once, a profile_request from a thread of its own (the heart
    keeps beating meanwhile). The controller checked the content."""
    t = msg.msg_type
    if t == 'stack_request':
        content = {'status': 'ok', 'engine_id': engine.id, 'frames': main_stack()}
        current = engine.current
        if current is not None:
            content['running'] = {'msg_id': current.msg_id, 'msg_type': current.msg_type}
        _send(heart, 'stack_reply', content, msg)
        return
    seconds = float(msg.content.get('seconds', 1))

    def run():
        try:
            content = profile(seconds, lambda: engine.current is not None)
            content.update({'status': 'ok', 'engine_id': engine.id, 'seconds': seconds})
        except Exception as e:  # a reply in any case: the client waits for one
            content = {'status': 'error', 'ename': 'ProbeError', 'evalue': 'cannot sample the main thread: %s' % e, 'traceback': []}
        _send(heart, 'profile_reply', content, msg)
    threading.Thread(target=run, name='multiengine-profile', daemon=True).start()


def _send(heart, msg_type, content, msg):
    try:
        heart.send(msg_type, content, parent=msg.header_bytes)
    except Exception as e:
        log('cannot send %s: %s' % (msg_type, e))
