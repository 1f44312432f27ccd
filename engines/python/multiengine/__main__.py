"""Installs the Python client (and engine) for an interpreter, offline, without building anything:

    python3 <multiengine>/engines/python/multiengine install [--user | --target DIR]
    python3 <multiengine>/engines/python/multiengine path        # the folder to put on PYTHONPATH
    python3 -m multiengine uninstall [--user | --target DIR]

`install` writes multiengine.pth (one line: the engines/python folder of this checkout or npm
package) into the interpreter's site-packages (--user: the user's; --target: any folder that
site.addsitedir reads). Running the folder works before anything is installed: Python runs this
file with the package folder on sys.path, and this file imports nothing of the package.
"""

import os
import site
import sys
import sysconfig

PTH = 'multiengine.pth'
HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _target(args):
    if '--target' in args:
        i = args.index('--target')
        if i + 1 >= len(args):
            raise SystemExit('--target needs a folder')
        return args[i + 1]
    if '--user' in args:
        return site.getusersitepackages()
    return sysconfig.get_paths()['purelib']


def main(args):
    cmd = args[0] if args else 'help'
    if cmd == 'path':
        print(HERE)
        return 0
    if cmd in ('install', 'uninstall'):
        folder = _target(args[1:])
        pth = os.path.join(folder, PTH)
        if cmd == 'uninstall':
            if os.path.exists(pth):
                os.remove(pth)
                print('removed %s' % pth)
            return 0
        try:
            os.makedirs(folder, exist_ok=True)
            with open(pth, 'w') as f:
                f.write(HERE + '\n')
        except OSError as e:
            print('cannot write %s (%s); try --user, or put %s on PYTHONPATH' % (pth, e, HERE), file=sys.stderr)
            return 1
        print('wrote %s: %s imports multiengine from %s' % (pth, sys.executable, HERE))
        return 0
    print(__doc__.strip())
    return 0 if cmd in ('help', '-h', '--help') else 2


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
