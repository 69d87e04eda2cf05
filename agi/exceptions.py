"""Errors of the AGI and the callback dial.

CallbackDeskError                (callback_desk.exceptions)
 ├── ConfigError                 a bad [agi] setting (names the key)
 └── CallbackError
      ├── NotCallable            the stored number may never reach Dial()
      ├── UnknownCall            no missed call has that id
      └── OutOfScope             the desk phone does not hear that line
ChannelGone                      the channel hung up or Asterisk went away (pyst2's AGIHangup)
UnsafeAgiArgument                a value would break out of an AGI command line (a bug)
"""

from __future__ import annotations

from asterisk.agi import AGIHangup

from callback_desk.exceptions import CallbackError


class NotCallable(CallbackError):
    """The stored number is not callable (withheld, malformed, premium-rate or not allowed)."""


class UnknownCall(CallbackError):
    """No missed call has that id."""


class OutOfScope(CallbackError):
    """That missed call is not one this extension may call back."""


class ChannelGone(AGIHangup):  # type: ignore[misc]
    """The channel hung up, or Asterisk closed the AGI session."""


class UnsafeAgiArgument(ValueError):
    """A value contains characters that could inject a second AGI command."""
