"""The command line: reading the engine connection file, the arguments, and main()."""

import json
import os
import sys

from .engine import Engine
from .errors import ENGINE_DIR
from .registration import Fatal
from .wire import log


class ConnectionFileError(Exception):
    pass


def read_connection_file(path, allow_insecure=False):
    """Reads and checks an engine connection file (as connectionFile.ts readConnectionFile does)."""
    try:
        with open(path, 'rb') as f:
            text = f.read().decode('utf-8')
    except FileNotFoundError:
        raise ConnectionFileError('no connection file at %s (is a cluster running? start one with: multiengine start)' % path)
    except OSError as e:
        raise ConnectionFileError('cannot read connection file %s: %s' % (path, e))
    if not allow_insecure and os.name == 'posix':
        mode = os.stat(path).st_mode
        if mode & 0o077:
            raise ConnectionFileError('connection file %s can be read by other users (mode %o); run chmod 600 on it, '
                                      'or pass --allow-insecure' % (path, mode & 0o777))
    try:
        raw = json.loads(text)
    except ValueError as e:
        raise ConnectionFileError('connection file %s is not valid JSON: %s' % (path, e))
    if not isinstance(raw, dict):
        raise ConnectionFileError('connection file %s is invalid: not a JSON object' % path)
    problems = []
    if raw.get('transport') != 'tcp':
        problems.append('transport must be "tcp"')
    if not isinstance(raw.get('ip'), str) or not raw.get('ip'):
        problems.append('ip must be a string')
    port = raw.get('port')
    if type(port) is not int or not 0 < port <= 65535:
        problems.append('port must be an integer from 1 to 65535')
    if not isinstance(raw.get('key'), str):
        problems.append('key must be a string')
    if raw.get('signature_scheme') != 'hmac-sha256':
        problems.append('signature_scheme must be "hmac-sha256"')
    if problems:
        raise ConnectionFileError('connection file %s is invalid: %s' % (path, '; '.join(problems)))
    hb = raw.get('heartbeat_ms')
    return {
        'transport': 'tcp', 'ip': raw['ip'], 'port': port, 'key': raw['key'], 'signature_scheme': 'hmac-sha256',
        'controller_pid': raw.get('controller_pid') if type(raw.get('controller_pid')) is int else 0,
        'profile': raw.get('profile') if isinstance(raw.get('profile'), str) else 'default',
        'heartbeat_ms': hb if isinstance(hb, (int, float)) and not isinstance(hb, bool) and hb > 0 else 1000,
    }


USAGE = '''usage: multiengine_engine.py --file ENGINE_JSON [--id N] [--allow-insecure] [--reconnect-ms MS]

Runs one multiengine python engine: connects to the controller named in ENGINE_JSON
(the controller's engine connection file), registers and serves requests until the
controller sends shutdown_request or goes away.

  --file PATH        engine connection file (required)
  --id N             ask the controller for engine id N
  --allow-insecure   accept a connection file other users can read
  --reconnect-ms MS  when the controller connection drops, register again (same id,
                     same namespace) for up to MS ms before exiting; 0 exits at once
                     (default: what the controller advises)
'''


def parse_args(argv):
    opts = {'file': None, 'id': None, 'allow_insecure': False}
    i = 0
    while i < len(argv):
        a = argv[i]
        name, eq, value = a.partition('=')
        if a in ('-h', '--help'):
            sys.stdout.write(USAGE)
            raise SystemExit(0)
        if name in ('--file', '-f', '--id', '--reconnect-ms'):
            if not eq:
                i += 1
                if i >= len(argv):
                    raise SystemExit('%s needs a value\n\n%s' % (name, USAGE))
                value = argv[i]
            if name in ('--id', '--reconnect-ms'):
                key = 'id' if name == '--id' else 'reconnect_ms'
                try:
                    opts[key] = int(value)
                except ValueError:
                    raise SystemExit('%s must be an integer, got %r' % (name, value))
                if opts[key] < 0:
                    raise SystemExit('%s must not be negative' % name)
            else:
                opts['file'] = value
        elif a == '--allow-insecure':
            opts['allow_insecure'] = True
        else:
            raise SystemExit('unknown argument %r\n\n%s' % (a, USAGE))
        i += 1
    if not opts['file']:
        raise SystemExit('--file is required\n\n%s' % USAGE)
    return opts


def main(argv=None):
    opts = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        info = read_connection_file(opts['file'], opts['allow_insecure'])
    except ConnectionFileError as e:
        log(str(e))
        return 1
    launcher_dir = os.path.dirname(ENGINE_DIR.rstrip(os.sep))
    if sys.path and sys.path[0] and os.path.abspath(sys.path[0]) == launcher_dir:
        sys.path[0] = ''  # user imports see the working directory (as in IPython), not the engine's folder
    try:
        return Engine(info, opts['id'], opts.get('reconnect_ms')).run()
    except Fatal as e:
        log(str(e))
        return 1
