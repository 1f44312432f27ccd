"""Registration (protocol section 7): the registration_request an engine sends and the wait for
the controller's answer."""

import os
import socket
import sys

from .wire import KERNEL, FrameError, log


class Fatal(Exception):
    """The engine cannot start or go on; the message says why (printed to stderr, exit code 1)."""


class Refused(Fatal):
    """The controller answered the registration with an error."""


def positive(v):
    """v when it is a number > 0 (not a bool), else 0."""
    return v if isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0 else 0


def registration_content(uuid, requested_id, resume, supervised, direct, engine_set=None):
    """registration_request content. `resume`: registering again after losing the controller,
    asking for the same id (`requested_id`); `direct`: the direct listener's address, or None."""
    content = {
        'uuid': uuid, 'kernel': KERNEL,
        'language_version': '%d.%d.%d' % tuple(sys.version_info[:3]),
        'host': socket.gethostname(), 'pid': os.getpid(),
    }
    if requested_id is not None:
        content['requested_id'] = requested_id
    if resume:
        content['resume'] = True
    if supervised:
        content['supervised'] = True
    if sys.executable:
        content['executable'] = sys.executable
    if direct is not None:
        content['direct'] = direct
    if engine_set is not None:
        content['engine_set'] = engine_set
    return content


def await_reply(chan, timeout):
    """The content of the registration_reply on `chan` once it says ok; Fatal (Refused) when it
    does not come within `timeout` seconds or refuses."""
    chan.sock.settimeout(timeout)
    try:
        while True:
            msg = chan.recv()
            if msg.msg_type == 'registration_reply':
                break
            log('ignoring %s before registration' % msg.msg_type)
    except socket.timeout:
        raise Fatal('no registration_reply from the controller within %d s' % timeout)
    except (EOFError, OSError, FrameError) as e:
        raise Fatal('the controller closed the connection before registering this engine (%s)' % (e or 'closed'))
    chan.sock.settimeout(None)
    c = msg.content
    if c.get('status') != 'ok':
        raise Refused('registration refused: %s' % (c.get('evalue') or c.get('ename') or c))
    return c
