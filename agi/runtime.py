"""Wiring for the asyncio side (FastAGI, and the classic AGI when a DSN needs asyncpg):
settings -> store -> callbacks, a time limit on every database call, and shutdown."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import AsyncIterator, Awaitable, Sequence
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import TypeVar

from agi.config import AgiSettings
from agi.handlers import Desk
from agi.queries import Callbacks, MissedCall, WaitingCaller
from agi.session import UnavailableCallbacks
from callback_desk.core.config import Settings
from callback_desk.core.exceptions import StoreError, StoreTimeout
from callback_desk.core.model import Disposition
from callback_desk.core.record import replace
from callback_desk.core.store import Store

logger = logging.getLogger(__name__)
T = TypeVar("T")


@asynccontextmanager
async def open_callbacks(
    settings: Settings, cfg: AgiSettings, max_size: int
) -> AsyncIterator[Desk]:
    """Callbacks over a small pool; a stand-in that raises when the database is down."""
    database = replace(settings.database, connect_timeout=cfg.db_timeout)
    try:
        # The desk's queries are single statements that leave no session state.
        store = await Store.open(database, max_size=max_size, stateless=True)
    except StoreError as exc:
        logger.error("Database unavailable: %s", exc)
        yield UnavailableCallbacks(exc)
        return
    try:
        yield Callbacks(store.pool)
    finally:
        await store.close()


class TimedDesk:
    """:class:`agi.handlers.Desk` for sessions sharing one event loop: ``db_timeout`` on every
    call (too slow is not down, but the menu apologises either way; the log says which), and
    one query for desks that ask the same question at the same moment.

    When the whole office presses ``*47`` together, the desks that hear the same lines (every
    desk, without ``[agi.extensions]``) ask PostgreSQL the same "who is waiting": a desk that
    asks while that query is running joins it instead of running its own. Its answer is then at
    most one query's duration old, as if it had pressed a moment earlier; nothing is kept once
    the query has answered, and dialling re-reads the call anyway (:mod:`agi.policy`).
    """

    def __init__(self, desk: Desk, timeout: float) -> None:
        self._desk = desk
        self._timeout = timeout
        self._asking: dict[
            tuple[tuple[str, ...], timedelta], asyncio.Task[list[WaitingCaller]]
        ] = {}

    async def _run(self, call: Awaitable[T]) -> T:
        try:
            async with asyncio.timeout(self._timeout):
                return await call
        except TimeoutError:
            raise StoreTimeout(f"the database did not answer within {self._timeout:g}s") from None

    async def waiting(
        self, scope: Sequence[str], since: datetime, until: datetime
    ) -> list[WaitingCaller]:
        key = (tuple(scope), until - since)
        query = self._asking.get(key)
        if query is None:
            query = asyncio.ensure_future(self._run(self._desk.waiting(scope, since, until)))
            self._asking[key] = query
            query.add_done_callback(functools.partial(self._answered, key))
        # shield: a desk hanging up mid-query does not cancel the others' answer.
        return list(await asyncio.shield(query))

    def _answered(
        self, key: tuple[tuple[str, ...], timedelta], query: asyncio.Task[list[WaitingCaller]]
    ) -> None:
        if self._asking.get(key) is query:
            del self._asking[key]
        if not query.cancelled():
            query.exception()  # seen, even when every desk that asked has hung up

    async def missed_call(self, call_id: int) -> MissedCall | None:
        return await self._run(self._desk.missed_call(call_id))

    async def start_attempt(self, call_id: int, extension: str, channel_id: str | None) -> int:
        return await self._run(self._desk.start_attempt(call_id, extension, channel_id))

    async def finish_attempt(self, attempt_id: int, dial_status: str, talk_seconds: int) -> bool:
        return await self._run(self._desk.finish_attempt(attempt_id, dial_status, talk_seconds))

    async def discard_attempt(self, attempt_id: int) -> bool:
        return await self._run(self._desk.discard_attempt(attempt_id))

    async def dispose(
        self, call_id: int, number_key: str | None, disposition: Disposition, extension: str
    ) -> int:
        return await self._run(self._desk.dispose(call_id, number_key, disposition, extension))
