"""Feeds length-prefixed bad frames from stdin to the Python engine's FrameReader and
decode_message, as a fresh connection each, and prints a JSON summary."""
import json
import struct
import sys

from multiengine_python import wire


class BytesSocket(object):
    """Just enough of a socket for FrameReader: serves one frame's bytes, then EOF."""

    def __init__(self, data):
        self.data = memoryview(data)
        self.pos = 0

    def recv(self, n):
        chunk = self.data[self.pos:self.pos + n].tobytes()
        self.pos += len(chunk)
        return chunk

    def recv_into(self, view, n):
        chunk = self.data[self.pos:self.pos + n]
        view[:len(chunk)] = chunk
        self.pos += len(chunk)
        return len(chunk)


def main():
    data = sys.stdin.buffer.read()
    signer = wire.Signer('fuzz-key')
    out = {'frames': 0, 'dropped': 0, 'closed': 0, 'accepted': 0, 'incomplete': 0, 'unexpected': 0}
    pos = 0
    while pos < len(data):
        (n,) = struct.unpack_from('>I', data, pos)
        frame = data[pos + 4:pos + 4 + n]
        pos += 4 + n
        out['frames'] += 1
        reader = wire.FrameReader(BytesSocket(frame), max_message_bytes=64 * 1024 * 1024)
        try:
            parts = reader.read_frame()
        except EOFError:
            out['incomplete'] += 1
            continue
        except wire.FrameError:
            out['closed'] += 1
            continue
        except Exception as e:  # anything else is a parser bug
            out['unexpected'] += 1
            print('unexpected %r' % e, file=sys.stderr)
            continue
        try:
            wire.decode_message(parts, signer)
            out['accepted'] += 1
        except wire.BadMessage:
            out['dropped'] += 1
        except Exception as e:
            out['unexpected'] += 1
            print('unexpected %r' % e, file=sys.stderr)
    print(json.dumps(out))


if __name__ == '__main__':
    main()
