"""The AGI protocol's own errors; the rest of the tree is in :mod:`callback_desk.core.exceptions`.

ChannelGone extends pyst2's AGIHangup so that pyst2's own code paths treat it as a hang-up.
"""

from __future__ import annotations

from asterisk.agi import AGIHangup


class ChannelGone(AGIHangup):  # type: ignore[misc]
    """The channel hung up, or Asterisk closed the AGI session."""


class UnsafeAgiArgument(ValueError):
    """A value contains characters that could inject a second AGI command."""
