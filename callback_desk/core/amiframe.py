"""The AMI wire format, pure: no sockets, no clock.

AMI is line-based text. The server greets with one line, ``Asterisk Call Manager/<version>``
ended by CRLF; after that every message (an action, a response, an event) is ``Key: Value``
lines ended by CRLF, and a message ends with an empty line (CRLF CRLF). Values are not escaped:
a CR or LF inside a value would start a new header or a new action, so values that hold one are
refused here, never sent.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from callback_desk.core.exceptions import AmiError, AmiFramingError

# Asterisk's own frames are a few KiB; a list event with every channel variable stays far below
# this. A peer that sends more without an end is broken or hostile.
MAX_FRAME = 1 << 20
BANNER = b"Asterisk Call Manager/"
_MAX_BANNER = 256
_EOM = b"\r\n\r\n"
_UNSAFE = re.compile(r"[\x00-\x1f\x7f]")

Frame = dict[str, str]
ActionValue = str | Sequence[str]


def parse_frame(frame: str) -> Frame:
    """``Key: Value`` lines to a dict with lower-case keys; a repeated key keeps its last value."""
    headers: Frame = {}
    for line in frame.split("\r\n"):
        key, sep, value = line.partition(": ")
        if sep:
            headers[key.lower()] = value
    return headers


def encode_action(action: Mapping[str, ActionValue]) -> bytes:
    """The bytes of one action; a list value repeats its header (``Variable``).

    Raises :class:`AmiError` naming the header, never echoing the value: the value may be the
    secret, and a value that cannot be encoded must not reach a log line either.
    """
    lines = []
    for key, value in action.items():
        for item in [value] if isinstance(value, str) else value:
            if _UNSAFE.search(key) or _UNSAFE.search(item):
                raise AmiError(f"refusing an AMI {key} value with control characters")
            lines.append(f"{key}: {item}\r\n")
    lines.append("\r\n")
    try:
        return "".join(lines).encode("utf-8")
    except UnicodeEncodeError:
        bad = next(k for k, v in action.items() if not _encodable(k, v))
        raise AmiError(f"refusing an AMI {bad} value that is not valid text (UTF-8)") from None


def _encodable(key: str, value: ActionValue) -> bool:
    try:
        "".join([key, *([value] if isinstance(value, str) else value)]).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


class FrameBuffer:
    """Cuts a byte stream into frames: linear in the bytes received, bounded per frame.

    Only the bytes that arrived since the last read are searched for the end of a frame (plus
    three bytes before them, for an end split across reads), so a long frame costs its length,
    not its length squared. Frames are decoded whole, so a character split across two reads
    survives; bytes that are not UTF-8 become U+FFFD.
    """

    def __init__(self, limit: int = MAX_FRAME) -> None:
        self._buf = bytearray()
        self._limit = limit
        self.banner: str | None = None

    def feed(self, data: bytes) -> list[str]:
        """The frames completed by ``data``; raises :class:`AmiFramingError` past the limits."""
        buf = self._buf
        start = max(0, len(buf) - 3)
        buf += data
        pos = 0
        if self.banner is None:
            end = buf.find(b"\r\n")
            if end < 0:
                if len(buf) > _MAX_BANNER:
                    raise AmiFramingError("the peer sent no AMI banner line")
                return []
            if not buf.startswith(BANNER):
                raise AmiFramingError("the peer is not an AMI server (no Asterisk banner)")
            self.banner = buf[len(BANNER) : end].decode("ascii", "replace").strip()
            pos = start = end + 2
        frames: list[str] = []
        # Every frame this data completed, decoded and cut in one go (the end of a frame is
        # ASCII, so it never splits a character): one decode per read, not one per frame.
        end = buf.rfind(_EOM, start)
        if end >= pos:
            text = buf[pos:end].decode("utf-8", "replace")
            frames = [f for f in (f.strip("\r\n") for f in text.split("\r\n\r\n")) if f]
            pos = end + 4
        if pos:
            del buf[:pos]
        if len(buf) > self._limit:
            raise AmiFramingError(
                f"an AMI frame grew past {self._limit} bytes without an end; dropping the link"
            )
        return frames
