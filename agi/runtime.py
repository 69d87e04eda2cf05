"""Wiring for the asyncio side (FastAGI, and the classic AGI when a DSN needs asyncpg):
settings -> store -> callbacks, a time limit on every database call, and shutdown."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Generic, TypeVar

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


K = tuple[tuple[str, ...], timedelta]  # a question: the lines, and how far back


class _Asked(Generic[T]):
    """A query some desks are waiting for, and how many."""

    def __init__(self, task: asyncio.Task[T]) -> None:
        self.task = task
        self.waiting = 0


class Prefetch(Generic[T]):
    """:class:`agi.handlers.Pending` on the event loop: the answer is read by a task started at
    once, which :meth:`close` waits for, and cancels when the session itself is cancelled.

    A desk that hangs up meanwhile does not interrupt the read: by then it is running in
    PostgreSQL, and asyncpg cancels a running statement over a new connection to the server
    (which forks a process to take it), more work than the read itself for most desks; the
    FastAGI server's CPU per session rose from 4.0 to 4.2-5.2 ms that way (bench/agi.py, whose
    desks all hang up after the count). The read ends within ``db_timeout`` either way.
    """

    def __init__(self, read: Awaitable[T], what: str) -> None:
        self._task = asyncio.ensure_future(read)
        self._what = what
        self._seen = False

    async def result(self) -> T:
        self._seen = True  # what it raises is the menu's to handle (and log)
        return await self._task

    async def close(self) -> None:
        task = self._task
        current = asyncio.current_task()
        if current is not None and current.cancelling():
            task.cancel()  # the session is being stopped (the server shuts down)
        if not task.done():
            # Not for a task done already (the usual case: its result was awaited): wait()
            # would still cost the session a turn of the event loop.
            await asyncio.wait((task,))
        if not self._seen and not task.cancelled() and task.exception() is not None:
            # Failed while the desk was answered or the count said, and the desk hung up
            # before asking for it: logged here rather than lost.
            logger.info(
                "Reading %s failed after the menu stopped waiting for it: %s",
                self._what,
                task.exception(),
                extra={"action": "agi_prefetch_failed"},
            )


class TimedDesk:
    """:class:`agi.handlers.Desk` for sessions sharing one event loop: ``db_timeout`` on every
    call (too slow is not down, but the menu apologises either way; the log says which), the
    count read while the desk is answered and the list while the count is said
    (:class:`Prefetch`), counts before lists, and one query for desks that ask the same question
    at the same moment.

    When the whole office presses ``*47`` together, the desks that hear the same lines (every
    desk, without ``[agi.extensions]``) ask PostgreSQL the same "how many" and then the same
    "who": a desk that asks while that query is running joins it instead of running its own.
    Its answer is then at most one query's duration old, as if it had pressed a moment earlier;
    nothing is kept once the query has answered, and dialling re-reads the call anyway
    (:mod:`agi.policy`). A query every desk has stopped waiting for is cancelled.
    """

    def __init__(self, desk: Desk, timeout: float) -> None:
        self._desk = desk
        self._timeout = timeout
        self._counting: dict[K, _Asked[int]] = {}
        self._listing: dict[K, _Asked[list[WaitingCaller]]] = {}

    async def _run(self, call: Awaitable[T]) -> T:
        try:
            async with asyncio.timeout(self._timeout):
                return await call
        except TimeoutError:
            raise StoreTimeout(f"the database did not answer within {self._timeout:g}s") from None

    async def _shared(
        self, asked: dict[K, _Asked[T]], key: K, read: Callable[[], Awaitable[T]]
    ) -> T:
        query = asked.get(key)
        if query is None:
            query = _Asked(asyncio.ensure_future(self._run(read())))
            asked[key] = query
            query.task.add_done_callback(functools.partial(self._answered, asked, key))
        query.waiting += 1
        try:
            # shield: a desk hanging up mid-query does not cancel the others' answer.
            return await asyncio.shield(query.task)
        finally:
            query.waiting -= 1
            if not query.waiting and not query.task.done():
                query.task.cancel()  # every desk that asked has stopped waiting
                await asyncio.wait((query.task,))

    @staticmethod
    def _answered(asked: dict[K, _Asked[T]], key: K, task: asyncio.Task[T]) -> None:
        if key in asked and asked[key].task is task:
            del asked[key]
        if not task.cancelled():
            task.exception()  # seen, even when every desk that asked has hung up

    async def waiting_count(self, scope: Sequence[str], since: datetime, until: datetime) -> int:
        key = (tuple(scope), until - since)
        return await self._shared(
            self._counting, key, lambda: self._desk.waiting_count(scope, since, until)
        )

    def count_soon(self, scope: Sequence[str], since: datetime, until: datetime) -> Prefetch[int]:
        return Prefetch(self.waiting_count(scope, since, until), "the count")

    def waiting_soon(
        self, scope: Sequence[str], since: datetime, until: datetime
    ) -> Prefetch[list[WaitingCaller]]:
        return Prefetch(self.waiting(scope, since, until), "the list")

    async def waiting(
        self, scope: Sequence[str], since: datetime, until: datetime
    ) -> list[WaitingCaller]:
        """The list (each desk its own copy: the menu takes callers off it)."""
        key = (tuple(scope), until - since)
        read = functools.partial(self._read_list, scope, since, until)
        callers: list[WaitingCaller] = await self._shared(self._listing, key, read)
        return list(callers)

    async def _read_list(
        self, scope: Sequence[str], since: datetime, until: datetime
    ) -> list[WaitingCaller]:
        # Counts first: a desk still waiting for its count waits for nothing else, while this
        # list is needed only once a count has been said (seconds of audio on a real phone).
        # So it starts after the counts in PostgreSQL now have answered, not beside them on the
        # server's two cores (bench/agi.py, 16 desks at once). Those counts only: a stream of
        # new ones cannot hold it back.
        running = [query.task for query in self._counting.values()]
        if running:
            await asyncio.wait(running)
        later = self._desk.waiting_soon(scope, since, until)  # read when asked: see Callbacks
        try:
            return await later.result()
        finally:
            await later.close()

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
