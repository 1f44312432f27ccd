"""Where a request's output and reply go: back on the direct connection it came on while that is
open, else to the controller (metadata.orphan); batched while requests run back to back."""

from .batch import Batch
from .wire import MessageTooLarge, iso_now, log


def _fmt_bytes(n):
    """`12.5 MiB (13107200 bytes)`, as the TypeScript client writes sizes."""
    v, units = float(n), ('bytes', 'KiB', 'MiB', 'GiB', 'TiB')
    u = 0
    while v >= 1024 and u < len(units) - 1:
        v /= 1024.0
        u += 1
    return '%d bytes' % n if u == 0 else '%.1f %s (%d bytes)' % (v, units[u], n)


class Replies(object):
    """`engine` gives the main channel (`chan`, which changes when it registers again), its `id`
    and its `activity` reporter."""

    def __init__(self, engine):
        self.engine = engine
        self.batch = Batch(self.release, lambda chan: chan is engine.chan)

    def answer_aborted(self, reqs):
        now = iso_now()
        for req in reqs:
            self.reply(req, {'status': 'aborted'}, now, now)

    def send_to(self, origin, msg_type, content, parent, metadata, buffers=()):
        """Sends a request's stream or reply: on the direct connection it came on while that is
        open, else to the controller with metadata.orphan (it keeps it in its result store).
        Returns the message's encoded parts and the size of its frame."""
        if origin is not None:
            chan = origin.chan
            args = (msg_type, content, parent, metadata, buffers)
            try:
                parts, size = chan.encode_sized(*args)
                if self.batch.post(chan, parts, args):
                    return parts, size
            except OSError:
                origin.close()
            metadata = dict(metadata, orphan=True)
        parts, size = self.engine.chan.encode_sized(msg_type, content, parent, metadata, buffers)
        self.batch.post(self.engine.chan, parts)
        return parts, size

    def release(self, chan):
        """Writes what a channel held for a batch. What a direct connection could not take goes
        to the controller instead (as send_to does)."""
        unsent = chan.release()
        if not unsent or unsent[0][1] is None:  # the main channel's own messages have no args
            return
        chan.close()
        for _, (msg_type, content, parent, metadata, buffers) in unsent:
            try:
                self.engine.chan.send(msg_type, content, parent, dict(metadata, orphan=True), buffers)
            except (OSError, MessageTooLarge) as e:
                log('cannot send %s: %s' % (msg_type, e))

    def reply(self, msg, content, started, completed, buffers=(), ran=0.0):
        """Answers a request (that ran for `ran` seconds) where it came from."""
        if msg.origin is not None:
            self.engine.activity.finished(msg.msg_id, ran)
        self._send(msg, content, started, completed, buffers)

    def _send(self, msg, content, started, completed, buffers):
        meta = {'engine_id': self.engine.id, 'received': msg.received or started, 'started': started, 'completed': completed}
        rtype = msg.msg_type[:-len('_request')] + '_reply'
        send = self.send_to
        try:
            parts, size = send(msg.origin, rtype, content, msg.header_bytes, meta, buffers)
            if msg.origin is not None:
                # parts[3]: the reply's metadata as sent, which holds its times.
                self.engine.tasks.add(msg, parts[3], content, size, self.engine.output.kept)
        except (TypeError, ValueError) as e:  # content not JSON: an engine bug; still answer
            log('cannot send %s: %r' % (rtype, e))
            send(msg.origin, rtype, {'status': 'error', 'ename': 'EngineError', 'evalue': 'reply not encodable: %s' % e,
                                     'traceback': []}, msg.header_bytes, meta)
        except MessageTooLarge as e:
            log('cannot send %s: %s' % (rtype, e))
            error = {'status': 'error', 'ename': 'MessageTooLargeError',
                     'evalue': 'the reply is %s, more than the maximum message size of %s; '
                               'return or pull it in smaller pieces' % (_fmt_bytes(e.size), _fmt_bytes(e.limit)),
                     'traceback': []}
            try:
                parts, _ = send(msg.origin, rtype, error, msg.header_bytes, meta)
                if msg.origin is not None:
                    # No result went out: 0 bytes, as the node engine records it.
                    self.engine.tasks.add(msg, parts[3], error, 0, self.engine.output.kept)
            except OSError:
                pass
        except OSError as e:
            log('cannot send %s: %s' % (rtype, e))
