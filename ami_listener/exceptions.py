"""Listener-specific errors (the shared tree lives in :mod:`callback_desk.exceptions`).

CallbackDeskError
 └── MalformedEvent     an AMI frame lacks a header we need; logged and skipped
"""

from __future__ import annotations

from callback_desk.exceptions import CallbackDeskError


class MalformedEvent(CallbackDeskError, ValueError):
    """An AMI event lacks a required header."""
