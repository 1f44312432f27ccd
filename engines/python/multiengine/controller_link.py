"""The client's connection to the controller through its life, as the TypeScript client's
ControllerLink (core/client/controllerLink.ts): the connect handshake, and connecting again
after the controller was lost, from the same connection file with the same key, for as long as
the controller advised (connect_reply.reconnect_ms). A controller restarted on the same profile
(`multiengine start` supervising it, or `--reuse-key`) keeps its port and key, so the client
comes back to it; a connection file with another key belongs to another controller: no."""

import time

from multiengine_python.command_line import ConnectionFileError, read_connection_file
from multiengine_python.wire import BadMessage, FrameError

from .errors import ConnectionError
from .links import open_link, recv_reply


def handshake(info, maker, signer, subscribe, timeout):
    """(link, connect_reply content) of a new connection to the controller `info` names;
    ConnectionError when it cannot connect, refuses or does not answer within `timeout`."""
    try:
        link = open_link(info['ip'], info['port'], 1 << 30, timeout)
    except OSError as e:
        raise ConnectionError('cannot connect to the controller at %s:%s (%s); is the cluster running?' % (info['ip'], info['port'], e))
    msg_id = maker.next_id()
    _, hb = maker.header('connect_request', msg_id)
    try:
        link.send(maker.parts(hb, {'subscribe': subscribe}))
        reply = recv_reply(link, signer, msg_id, timeout)
    except (OSError, EOFError, FrameError, BadMessage) as e:
        reply = None
        why = str(e) or type(e).__name__
    else:
        why = 'no answer within %g s' % timeout
    if reply is None or reply.content.get('status') != 'ok':
        link.close()
        if reply is not None:
            why = reply.content.get('evalue', 'refused')
        raise ConnectionError('the controller at %s:%s did not accept this client: %s (is the key in the connection file current?)'
                              % (info['ip'], info['port'], why))
    return link, reply.content


class Reconnector(object):
    """Whether, and how, a client that lost its controller connects again."""

    def __init__(self, file, key, allow_insecure, reconnect_ms):
        self.file = file
        self.key = key
        self.allow_insecure = allow_insecure
        #: How long to try (0: never), as the controller advised.
        self.reconnect_ms = reconnect_ms
        self.reconnects = 0

    def _read(self):
        try:
            return read_connection_file(self.file, self.allow_insecure)
        except (ConnectionFileError, OSError):
            return None

    def may_come_back(self):
        """Reconnecting is allowed and the file still names the controller we knew (a clean shutdown deletes it)."""
        if not self.reconnect_ms or not self.file:
            return False
        info = self._read()
        return info is not None and info['key'] == self.key

    def reconnect(self, deadline, maker, signer, subscribe, timeout):
        """(link, connect_reply content) once a controller with our key answers, trying until
        `deadline` (time.monotonic()); ConnectionError saying why it gave up."""
        delay = 0.05
        why = 'no controller answered within %g s' % (self.reconnect_ms / 1000.0)
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            info = self._read()  # a restarted controller writes it again
            if info is not None and info['key'] != self.key:
                why = 'the connection file %s now belongs to another controller (a different key)' % self.file
                break
            if info is not None:
                try:
                    got = handshake(info, maker, signer, subscribe, max(0.5, min(timeout, left)))
                except ConnectionError:
                    pass
                else:
                    self.reconnects += 1
                    return got
            time.sleep(max(0.0, min(delay, deadline - time.monotonic())))
            delay = min(delay * 2, 0.5)
        raise ConnectionError('lost the connection to the controller and could not connect again: %s; make a new Client()' % why)
