"""Logging set-up, called only by entry points (the CLI and the classic AGI).

Modules log through ``logging.getLogger(__name__)``; this decides where it goes.
"""

from __future__ import annotations

import logging
import sys
import time


class ActionFormatter(logging.Formatter):
    """Appends ``action=<token>`` to lifecycle lines (``extra={"action": ...}``), so an operator
    can grep the journal for ``action=db_down`` as docs/operations.md documents."""

    def __init__(self, fmt: str) -> None:
        super().__init__(fmt)
        self._second = -1
        self._stamp = ""

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        action = getattr(record, "action", None)
        return f"{text} action={action}" if action else text

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        """logging's own text, with the date and time rendered once per second: the listener
        logs a line per missed call, thousands a second in a burst."""
        if datefmt is not None:
            return super().formatTime(record, datefmt)
        second = int(record.created)
        if second != self._second:
            self._stamp = time.strftime(self.default_time_format, self.converter(second))
            self._second = second
        return f"{self._stamp},{int(record.msecs):03d}"  # logging's default_msec_format


class StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is at the time, not the one at set-up: a test (or an
    atexit hook after the test) must not log into a stream that has been closed since."""

    @property
    def stream(self) -> object:
        return sys.stderr

    @stream.setter
    def stream(self, _value: object) -> None:
        pass


class SyslogHandler(logging.Handler):
    """To the system log through libc's syslog(3) (the ``syslog`` module), tagged
    ``<tag>[<pid>]``. Not logging.handlers.SysLogHandler: importing logging.handlers (pickle,
    queue, ...) cost the classic AGI's start more than all its own code, on every ``*47``; and
    without a ``/dev/log`` it printed a traceback per line where libc drops the line quietly."""

    def __init__(self, tag: str) -> None:
        super().__init__()
        import syslog

        self._syslog = syslog
        syslog.openlog(tag, syslog.LOG_PID, syslog.LOG_USER)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            priority = _PRIORITIES.get(record.levelno, self._syslog.LOG_WARNING)
            self._syslog.syslog(priority, self.format(record))
        except Exception:  # logging's own rule: a log line never raises
            self.handleError(record)


# logging's levels as syslog priorities (the syslog module's LOG_* values, RFC 5424).
_PRIORITIES = {
    logging.DEBUG: 7,
    logging.INFO: 6,
    logging.WARNING: 4,
    logging.ERROR: 3,
    logging.CRITICAL: 2,
}


def configure(verbosity: int, *, syslog_tag: str | None = None) -> None:
    """stderr by default; syslog (``/dev/log``) with ``syslog_tag`` (classic AGI under Asterisk,
    which discards a daemon's stderr)."""
    level = logging.DEBUG if verbosity >= 2 else logging.INFO
    # Nothing we write shows the caller's file and line, thread or process: logging's HOWTO
    # ("Optimization") says to switch their collection off, a seventh of each record's cost.
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    if syslog_tag is not None:
        handler: logging.Handler = SyslogHandler(syslog_tag)
        handler.setFormatter(ActionFormatter("%(levelname)s %(message)s"))
    else:
        handler = StderrHandler()
        handler.setFormatter(ActionFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.addHandler(handler)
    root.setLevel(level)
    logging.getLogger("asyncio").setLevel(logging.WARNING)
