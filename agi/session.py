"""Run one AGI session: the blocking handler in a worker thread, the database on the loop.

Both modes go through :func:`run_session`: classic AGI passes the process's stdin/stdout,
FastAGI passes file-like views of its socket streams. The handler (pyst2, blocking) runs in a
worker thread; every database call hops back onto the event loop that owns the asyncpg pool
(``run_coroutine_threadsafe``), so one pool serves every concurrent FastAGI session.

Why threads rather than an async AGI channel: pyst2 is blocking and must be used for the classic
script; running it in a thread keeps ONE handler for both modes with no async/sync duplication,
and a session spends its life waiting on Asterisk anyway.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable, Coroutine, Sequence
from concurrent.futures import Executor
from datetime import datetime
from typing import IO, Any, TypeVar
from zoneinfo import ZoneInfo

from asterisk.agi import AGIError

from agi import variables as var
from agi.channel import SafeAGI
from agi.config import AgiSettings
from agi.exceptions import ChannelGone, UnsafeAgiArgument
from agi.handlers import Clock, handle
from agi.queries import Callbacks, Disposition, MissedCall, WaitingCaller
from callback_desk.core.exceptions import StoreError, StoreTimeout

logger = logging.getLogger(__name__)
T = TypeVar("T")


class BlockingDesk:
    """:class:`agi.handlers.Desk` for a worker thread, over :class:`Callbacks` on ``loop``."""

    def __init__(
        self, callbacks: Callbacks, loop: asyncio.AbstractEventLoop, timeout: float
    ) -> None:
        self._cb = callbacks
        self._loop = loop
        self._timeout = timeout

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        try:
            return future.result(self._timeout)
        except TimeoutError as exc:
            future.cancel()
            # Too slow is not down: the menu apologises either way, the log says which.
            raise StoreTimeout(f"the database did not answer within {self._timeout:g}s") from exc

    def waiting(
        self, scope: Sequence[str], since: datetime, until: datetime
    ) -> list[WaitingCaller]:
        return self._run(self._cb.waiting(scope, since, until))

    def missed_call(self, call_id: int) -> MissedCall | None:
        return self._run(self._cb.missed_call(call_id))

    def start_attempt(self, call_id: int, extension: str, channel_id: str | None) -> int:
        return self._run(self._cb.start_attempt(call_id, extension, channel_id))

    def finish_attempt(self, attempt_id: int, dial_status: str, talk_seconds: int) -> bool:
        return self._run(self._cb.finish_attempt(attempt_id, dial_status, talk_seconds))

    def discard_attempt(self, attempt_id: int) -> bool:
        return self._run(self._cb.discard_attempt(attempt_id))

    def dispose(
        self, call_id: int, number_key: str | None, disposition: Disposition, extension: str
    ) -> int:
        return self._run(self._cb.dispose(call_id, number_key, disposition, extension))


def blocking_session(
    stdin: IO[str],
    stdout: IO[str],
    hangup: threading.Event,
    desk: BlockingDesk,
    cfg: AgiSettings,
    tz: ZoneInfo,
    clock: Clock,
    before_reply: Callable[[str], None] | None = None,
) -> str:
    """The whole session, in the calling (worker) thread. Returns CALLBACK_DESK_STATUS."""
    try:
        agi = SafeAGI(stdin, stdout, hangup, before_reply)
    except ChannelGone:
        logger.warning("Asterisk went away before the AGI environment was read")
        return var.HANGUP
    try:
        return handle(agi, desk, cfg, tz, clock)
    except (AGIError, UnsafeAgiArgument, ValueError, LookupError, RuntimeError) as exc:
        # A bug, not a caller's fault: log it, and still let the dialplan take its failure path.
        logger.exception("AGI session failed: %s", type(exc).__name__)
        # The channel may be gone already; then there is no dialplan left to tell.
        with contextlib.suppress(ChannelGone):
            agi.set_variable(var.STATUS, var.FAILED)
        return var.FAILED


async def run_session(
    stdin: IO[str],
    stdout: IO[str],
    hangup: threading.Event,
    callbacks: Callbacks,
    cfg: AgiSettings,
    tz: ZoneInfo,
    clock: Clock,
    executor: Executor | None = None,
    before_reply: Callable[[str], None] | None = None,
) -> str:
    loop = asyncio.get_running_loop()
    desk = BlockingDesk(callbacks, loop, cfg.db_timeout)
    work: Callable[[], str] = lambda: blocking_session(  # noqa: E731
        stdin, stdout, hangup, desk, cfg, tz, clock, before_reply
    )
    return await loop.run_in_executor(executor, work)


class UnavailableCallbacks(Callbacks):
    """Stands in when the pool could not even be created: every call raises the same error, so
    the handler apologises and takes the failure path exactly as for a query that failed."""

    def __init__(self, error: StoreError) -> None:  # no pool: deliberately no super().__init__
        self._error = error

    async def waiting(
        self, scope: Sequence[str], since: datetime, until: datetime
    ) -> list[WaitingCaller]:
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
