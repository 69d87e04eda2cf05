"""The AGI protocol's own errors; the rest of the tree is in :mod:`callback_desk.core.exceptions`.

Not pyst2's classes: the FastAGI path does not use pyst2 (agi/fastagi.py says why), and the
handler catches one tree whichever mode it runs in.
"""

from __future__ import annotations


class ChannelGone(Exception):
    """The channel hung up, or Asterisk closed the AGI session."""


class AgiReplyError(Exception):
    """Asterisk refused a command (510 unknown, 520 usage) or sent something that is not an AGI
    reply: a bug on our side or a peer that is not Asterisk, never the caller's doing."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"{code} {message}")
        self.code = code


class UnsafeAgiArgument(ValueError):
    """A value contains characters that could inject a second AGI command."""
