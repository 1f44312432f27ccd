"""python3 -m multiengine_python --file <engine.json> [--id N]"""

import sys

from .command_line import main

if __name__ == '__main__':
    sys.exit(main())
