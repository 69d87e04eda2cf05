"""Run one AGI session, in either mode: the handler, and what ends a session that went wrong.

The handler (:func:`agi.handlers.handle`) is a coroutine over an AGI channel and a desk. FastAGI
awaits it on the server's event loop (:class:`agi.fastagi.FastAgiChannel`, asyncpg);
the classic AGI steps it without an event loop (:func:`callback_desk.core.pgwire.drive`, pyst2
and one synchronous PostgreSQL connection). This module imports neither asyncio nor asyncpg: the
classic AGI's start pays only for what its first prompt needs.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from agi import variables as var
from agi.config import AgiSettings
from agi.exceptions import AgiReplyError, ChannelGone, UnsafeAgiArgument
from agi.handlers import AgiLike, Clock, Desk, handle
from agi.queries import Deferred, MissedCall, WaitingCaller
from callback_desk.core import lazylog
from callback_desk.core.exceptions import StoreError
from callback_desk.core.typeshim import TYPE_CHECKING

if TYPE_CHECKING:
    from callback_desk.core.model import Disposition  # lazy: see agi.queries

logger = lazylog.get(__name__)  # not logging: see callback_desk.core.lazylog

# A bug, not a caller's fault: Asterisk refused a command we built, or a value could not be
# sent safely. The session ends with status FAILED so the dialplan takes its failure path.
BUGS: tuple[type[Exception], ...] = (
    AgiReplyError,
    UnsafeAgiArgument,
    ValueError,
    LookupError,
    RuntimeError,
)


async def run_session(
    agi: AgiLike,
    desk: Desk,
    cfg: AgiSettings,
    tz: ZoneInfo,
    clock: Clock,
    bugs: tuple[type[Exception], ...] = BUGS,
) -> str:
    """The whole session; returns CALLBACK_DESK_STATUS (also set on the channel)."""
    try:
        return await handle(agi, desk, cfg, tz, clock)
    except bugs as exc:
        logger.exception("AGI session failed: %s", type(exc).__name__)
        # The channel may be gone already; then there is no dialplan left to tell.
        with contextlib.suppress(ChannelGone):
            await agi.set_variable(var.STATUS, var.FAILED)
        return var.FAILED


class UnavailableCallbacks:
    """Stands in when the database could not even be reached: every call raises the same
    error, so the handler apologises and takes the failure path exactly as for a query that
    failed."""

    def __init__(self, error: StoreError) -> None:
        self._error = error

    async def waiting_count(self, scope: Sequence[str], since: datetime, until: datetime) -> int:
        raise self._error

    def count_soon(self, scope: Sequence[str], since: datetime, until: datetime) -> Deferred[int]:
        return Deferred(self._count)

    async def _count(self) -> int:
        raise self._error

    def waiting_soon(
        self, scope: Sequence[str], since: datetime, until: datetime
    ) -> Deferred[list[WaitingCaller]]:
        return Deferred(self._waiting)

    async def _waiting(self) -> list[WaitingCaller]:
        raise self._error

    async def missed_call(self, call_id: int) -> MissedCall | None:
        raise self._error

    async def start_attempt(self, call_id: int, extension: str, channel_id: str | None) -> int:
        raise self._error

    async def finish_attempt(self, attempt_id: int, dial_status: str, talk_seconds: int) -> bool:
        raise self._error

    async def discard_attempt(self, attempt_id: int) -> bool:
        raise self._error

    async def dispose(
        self, call_id: int, number_key: str | None, disposition: Disposition, extension: str
    ) -> int:
        raise self._error
