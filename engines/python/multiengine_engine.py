#!/usr/bin/env python3
"""Multiengine engine for Python: the entry point the controller launches.

    python3 engines/python/multiengine_engine.py --file <engine.json> [--id N] [--allow-insecure]
    python3 -m multiengine_engine --file <engine.json> [--id N]      (engines/python on PYTHONPATH)

The engine itself is the package next to this file (multiengine_python/). It is kept out of
this script on purpose: Python caches the bytecode of imported modules but never of the script
it runs, and compiling the whole engine at every start costs ~3 MB of resident memory.
To run an engine on another host, copy this file and the multiengine_python folder.
Standard library only (Python >= 3.8); numpy is used when it is importable.
"""

import os
import sys

_here = os.path.dirname(os.path.abspath(__file__))
if _here not in [os.path.abspath(p) for p in sys.path if p]:
    sys.path.insert(0, _here)

from multiengine_python import *  # noqa: E402,F401,F403
from multiengine_python import main  # noqa: E402

if __name__ == '__main__':
    sys.exit(main())
