"""Module loggers that load :mod:`logging` at their first line, for the classic AGI's start.

Asterisk starts a classic AGI process per ``*47``, and the desk hears nothing until it has said
how many callers wait. Importing :mod:`logging` (with the traceback, string and weakref modules
it loads) was ~8 ms of that wait (``python -X importtime -m agi``), for a session that usually
logs its first line after the count. So the modules on that path (:mod:`agi.classic`,
:mod:`agi.session`, :mod:`agi.handlers`) write ``logger = lazylog.get(__name__)``: the same
``logging.getLogger(__name__)`` with the same levels, handlers and ``extra``, looked up at the
first call. :func:`configure_later` defers :func:`callback_desk.core.logs.configure` to that first
line (or to :func:`ready`). Everywhere else, modules use :mod:`logging` directly (STYLE G8).
"""

from __future__ import annotations

from callback_desk.core.typeshim import TYPE_CHECKING

if TYPE_CHECKING:
    import logging
    from typing import Any

# The entry point's pending logs.configure() arguments: (verbosity, syslog tag). Set once by the
# classic AGI's main() before anything logs; cleared when applied.
_pending: list[tuple[int, str | None]] = []


def configure_later(verbosity: int, *, syslog_tag: str | None = None) -> None:
    """:func:`callback_desk.core.logs.configure`, run at the first line a :class:`LazyLogger`
    writes, or at :func:`ready`, whichever comes first."""
    _pending[:] = [(verbosity, syslog_tag)]


def drop() -> None:
    """Forget a pending :func:`configure_later`: the entry point that asked for it returns
    without having logged, and its set-up should not apply to whatever runs next in the
    process (a test)."""
    _pending.clear()


def ready() -> None:
    """Apply a pending :func:`configure_later` now: before code that logs through
    :mod:`logging` directly (the asyncpg fallback) may write a line."""
    if _pending:
        verbosity, tag = _pending.pop()
        from callback_desk.core import logs

        logs.configure(verbosity, syslog_tag=tag)


class LazyLogger:
    """``logging.getLogger(name)``, looked up (and :mod:`logging` imported) at the first call."""

    __slots__ = ("_logger", "name")

    def __init__(self, name: str) -> None:
        self.name = name
        self._logger: logging.Logger | None = None

    def _get(self) -> logging.Logger:
        if self._logger is None:
            ready()
            import logging

            self._logger = logging.getLogger(self.name)
        return self._logger

    def debug(self, msg: object, *args: object, **kwargs: Any) -> None:
        self._log(10, msg, args, kwargs)  # logging.DEBUG (not imported yet)

    def info(self, msg: object, *args: object, **kwargs: Any) -> None:
        self._log(20, msg, args, kwargs)  # logging.INFO

    def warning(self, msg: object, *args: object, **kwargs: Any) -> None:
        self._log(30, msg, args, kwargs)  # logging.WARNING

    def error(self, msg: object, *args: object, **kwargs: Any) -> None:
        self._log(40, msg, args, kwargs)  # logging.ERROR

    def exception(self, msg: object, *args: object, **kwargs: Any) -> None:
        kwargs.setdefault("exc_info", True)
        self._log(40, msg, args, kwargs)

    def _log(self, level: int, msg: object, args: tuple[object, ...], kwargs: Any) -> None:
        # stacklevel + 2: the record names the caller's line, not these wrappers'.
        kwargs["stacklevel"] = kwargs.get("stacklevel", 1) + 2
        self._get().log(level, msg, *args, **kwargs)


def get(name: str) -> LazyLogger:
    return LazyLogger(name)
