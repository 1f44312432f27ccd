"""The Python client of Multiengine, with ipyparallel's names:

    import multiengine
    rc = multiengine.Client()            # the 'default' profile's cluster (multiengine start)
    dview = rc[:]
    dview.map_sync(lambda x: x ** 10, range(32))

docs/python-client.md describes it; it speaks docs/protocol.md to the same controller and engines
as the TypeScript client. Standard library only (numpy used when present).
"""

from .client import Client, connection_file_path, multiengine_dir  # noqa: F401
from .directview import DirectView  # noqa: F401
from .balanced import LoadBalancedView  # noqa: F401
from .results import AsyncMapResult, AsyncResult, ExecuteReply  # noqa: F401
from .errors import (  # noqa: F401
    AbortError, CompositeError, ConnectionError, ControllerError, EngineError, ImpossibleDependency,
    MessageTooLargeError, RemoteError, TaskTimeout, TimeoutError, UnmetDependency,
)
from multiengine_python.values import JSError, JSFunction, JSRegExp, NDArray, SerializationError  # noqa: F401
from . import errors as error  # noqa: F401  (ipyparallel spells it ipp.error.CompositeError)


def load_ipython_extension(ip):
    """%load_ext multiengine: the magics (multiengine.magics)."""
    from . import magics
    return magics.load_ipython_extension(ip)
