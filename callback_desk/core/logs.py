"""Logging set-up, called only by entry points (the CLI and the classic AGI).

Modules log through ``logging.getLogger(__name__)``; this decides where it goes.
"""

from __future__ import annotations

import logging
import sys


class ActionFormatter(logging.Formatter):
    """Appends ``action=<token>`` to lifecycle lines (``extra={"action": ...}``), so an operator
    can grep the journal for ``action=db_down`` as docs/operations.md documents."""

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        action = getattr(record, "action", None)
        return f"{text} action={action}" if action else text


class StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is at the time, not the one at set-up: a test (or an
    atexit hook after the test) must not log into a stream that has been closed since."""

    @property
    def stream(self) -> object:
        return sys.stderr

    @stream.setter
    def stream(self, _value: object) -> None:
        pass


def configure(verbosity: int, *, syslog_tag: str | None = None) -> None:
    """stderr by default; syslog (``/dev/log``) with ``syslog_tag`` (classic AGI under Asterisk,
    which discards a daemon's stderr)."""
    level = logging.DEBUG if verbosity >= 2 else logging.INFO
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    if syslog_tag is not None:
        from logging.handlers import SysLogHandler

        handler: logging.Handler = SysLogHandler(address="/dev/log")
        handler.setFormatter(ActionFormatter(f"{syslog_tag}: %(levelname)s %(message)s"))
    else:
        handler = StderrHandler()
        handler.setFormatter(ActionFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.addHandler(handler)
    root.setLevel(level)
    logging.getLogger("asyncio").setLevel(logging.WARNING)
