"""The command line: reading the engine connection file, the arguments, and main()."""

import json
import os
import sys
import threading

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
    return parse_connection_info(text, 'connection file %s' % path)


def parse_connection_info(text, source):
    """Connection information from text (a file's, MULTIENGINE_CONNECTION's, or the first stdin line)."""
    try:
        raw = json.loads(text)
    except ValueError as e:
        raise ConnectionFileError('%s is not valid JSON: %s' % (source, e))
    if not isinstance(raw, dict):
        raise ConnectionFileError('%s is invalid: not a JSON object' % source)
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
        raise ConnectionFileError('%s is invalid: %s' % (source, '; '.join(problems)))
    hb = raw.get('heartbeat_ms')
    return {
        'transport': 'tcp', 'ip': raw['ip'], 'port': port, 'key': raw['key'], 'signature_scheme': 'hmac-sha256',
        'controller_pid': raw.get('controller_pid') if type(raw.get('controller_pid')) is int else 0,
        'profile': raw.get('profile') if isinstance(raw.get('profile'), str) else 'default',
        'heartbeat_ms': hb if isinstance(hb, (int, float)) and not isinstance(hb, bool) and hb > 0 else 1000,
    }


USAGE = '''usage: multiengine_engine.py (--file ENGINE_JSON | --connection-stdin | with MULTIENGINE_CONNECTION set)
                            [--id N | --id-base B] [--engine-set S] [--allow-insecure] [--reconnect-ms MS]

Runs one multiengine python engine: connects to the controller named in ENGINE_JSON
(the controller's engine connection file), registers and serves requests until the
controller sends shutdown_request or goes away.

  --file PATH        engine connection file
  --connection-stdin read the connection information from the first stdin line, and exit
                     when stdin closes (the ssh launcher)
                     (without either: from the environment variable MULTIENGINE_CONNECTION)
  --id N             ask the controller for engine id N
  --id-base B        ask for id B + this process's MPI or SLURM rank (mpi, slurm launchers)
  --engine-set S     the engine set that started this engine
  --allow-insecure   accept a connection file other users can read
  --reconnect-ms MS  when the controller connection drops, register again (same id,
                     same namespace) for up to MS ms before exiting; 0 exits at once
                     (default: what the controller advises)
'''


def parse_args(argv):
    opts = {'file': None, 'id': None, 'id_base': None, 'engine_set': None, 'stdin': False, 'allow_insecure': False}
    i = 0
    while i < len(argv):
        a = argv[i]
        name, eq, value = a.partition('=')
        if a in ('-h', '--help'):
            sys.stdout.write(USAGE)
            raise SystemExit(0)
        if name in ('--file', '-f', '--id', '--id-base', '--reconnect-ms', '--engine-set'):
            if not eq:
                i += 1
                if i >= len(argv):
                    raise SystemExit('%s needs a value\n\n%s' % (name, USAGE))
                value = argv[i]
            if name in ('--id', '--id-base', '--reconnect-ms'):
                key = name[2:].replace('-', '_')
                try:
                    opts[key] = int(value)
                except ValueError:
                    raise SystemExit('%s must be an integer, got %r' % (name, value))
                if opts[key] < 0:
                    raise SystemExit('%s must not be negative' % name)
            elif name == '--engine-set':
                opts['engine_set'] = value
            else:
                opts['file'] = value
        elif a == '--connection-stdin':
            opts['stdin'] = True
        elif a == '--allow-insecure':
            opts['allow_insecure'] = True
        else:
            raise SystemExit('unknown argument %r\n\n%s' % (a, USAGE))
        i += 1
    if opts['id'] is not None and opts['id_base'] is not None:
        raise SystemExit('give --id or --id-base, not both\n\n%s' % USAGE)
    if not opts['file'] and not opts['stdin'] and not os.environ.get(CONNECTION_ENV):
        raise SystemExit('--file, --connection-stdin or %s is required\n\n%s' % (CONNECTION_ENV, USAGE))
    return opts


#: As core/connection/engineStart.ts: the connection information's variable, and where ranks are found.
CONNECTION_ENV = 'MULTIENGINE_CONNECTION'
RANK_ENV = ('OMPI_COMM_WORLD_RANK', 'PMIX_RANK', 'PMI_RANK', 'SLURM_PROCID')


def rank_from_env(env=None):
    env = os.environ if env is None else env
    for name in RANK_ENV:
        v = env.get(name)
        if v:
            try:
                rank = int(v)
            except ValueError:
                rank = -1
            if rank < 0:
                raise ConnectionFileError('%s must be a rank (a whole number), got %r' % (name, v))
            return rank
    raise ConnectionFileError('--id-base needs a rank, and none of %s is set: start the engine with mpiexec or srun, '
                              'or give --id' % ', '.join(RANK_ENV))


def _exit_when_stdin_closes():
    """The launcher (ssh) holds our stdin: when it goes away, so do we."""
    try:
        while sys.stdin.buffer.read1(65536):
            pass
    except (OSError, ValueError):
        pass
    log('stdin closed (the launcher went away); exiting')
    os._exit(0)


def connection_info(opts):
    if opts['file']:
        return read_connection_file(opts['file'], opts['allow_insecure'])
    if opts['stdin']:
        line = sys.stdin.buffer.readline()
        if not line.endswith(b'\n'):
            raise ConnectionFileError('stdin closed before the connection information arrived')
        info = parse_connection_info(line.decode('utf-8'), 'the connection information on stdin')
        threading.Thread(target=_exit_when_stdin_closes, name='stdin-watch', daemon=True).start()
        return info
    return parse_connection_info(os.environ[CONNECTION_ENV], '$' + CONNECTION_ENV)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv == ['--fork-server']:  # the local launcher's: engines forked on request (fork_server.py)
        from .fork_server import serve
        return serve(main)
    opts = parse_args(argv)
    try:
        info = connection_info(opts)
        # The key stays out of the environment of user code and of anything it starts.
        os.environ.pop(CONNECTION_ENV, None)
        requested_id = opts['id'] if opts['id_base'] is None else opts['id_base'] + rank_from_env()
    except ConnectionFileError as e:
        log(str(e))
        return 1
    launcher_dir = os.path.dirname(ENGINE_DIR.rstrip(os.sep))
    if sys.path and sys.path[0] and os.path.abspath(sys.path[0]) == launcher_dir:
        sys.path[0] = ''  # user imports see the working directory (as in IPython), not the engine's folder
    try:
        return Engine(info, requested_id, opts.get('reconnect_ms'), opts['engine_set']).run()
    except Fatal as e:
        log(str(e))
        return 1
