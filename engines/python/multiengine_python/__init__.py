"""The multiengine python engine (standard library only, Python >= 3.8).

Start it with ``python3 engines/python/multiengine_engine.py --file <engine.json> [--id N]``
or ``python3 -m multiengine_python --file ...`` with engines/python on PYTHONPATH.
docs/protocol.md describes the wire protocol and the value mapping.
"""

from .wire import (  # noqa: F401
    DEFAULT_MAX_MESSAGE_BYTES, KERNEL, MAX_PARTS, PROTOCOL_VERSION, BadMessage, Channel, FrameError,
    FrameReader, Message, Signer, decode_message, dumps, encode_frame, frame_head, iso_now, send_frame,
)
from .values import (  # noqa: F401
    MAX_SAFE_INTEGER, Encoder, JSError, JSFunction, JSRegExp, NDArray, SerializationError, decode_value,
    encode_value,
)
from .engine import Engine  # noqa: F401
from .command_line import ConnectionFileError, main, parse_args, read_connection_file  # noqa: F401
