"""What the two modes share around the handler: the pure protocol's reading of any reply, the
classic AGI's loop-less stepping, and the FastAGI desk's shared queries (the real database)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agi import protocol
from agi.exceptions import AgiReplyError, ChannelGone
from agi.queries import Callbacks
from agi.runtime import TimedDesk
from callback_desk.core.exceptions import StoreTimeout
from callback_desk.core.pgwire import drive
from callback_desk.core.store import Store
from tests.agi_support import add_missed

# The desk's queries run with the desk's own rights, as installed.
pytestmark = pytest.mark.db_role("cbd_desk")


@given(st.text(max_size=200))
def test_any_reply_line_is_a_result_or_one_of_two_errors(line: str) -> None:
    try:
        protocol.parse_result(line)
    except (ChannelGone, AgiReplyError):
        pass


@given(st.lists(st.text(alphabet="0123456789 -=resultHANGUP()\n", max_size=30), max_size=60))
def test_the_reply_reader_ends_every_reply_or_asks_for_more(lines: list[str]) -> None:
    hangups: list[bool] = []
    reader = protocol.ReplyReader(lambda: hangups.append(True))
    for line in lines:
        try:
            reader.feed(line.strip())
        except (ChannelGone, AgiReplyError):
            pass


def test_drive_runs_a_coroutine_that_never_suspends_and_refuses_one_that_does() -> None:
    async def answer() -> int:
        return 42

    assert drive(answer()) == 42
    with pytest.raises(RuntimeError, match="suspend"):
        drive(asyncio.sleep(0))


class Counting:
    """The real pool, counting the queries that reach it."""

    def __init__(self, pool: Any) -> None:
        self._pool = pool
        self.queries = 0  # lists (fetch)
        self.counts = 0  # counts (fetchval)
        self.cancelled = 0
        self.gate = asyncio.Event()

    async def _gate(self) -> None:
        try:
            await self.gate.wait()
        except asyncio.CancelledError:
            self.cancelled += 1
            raise

    async def fetch(self, query: str, *args: Any) -> Sequence[Any]:
        self.queries += 1
        await self._gate()
        return list(await self._pool.fetch(query, *args))

    async def fetchrow(self, query: str, *args: Any) -> Any:
        return await self._pool.fetchrow(query, *args)

    async def fetchval(self, query: str, *args: Any) -> Any:
        self.counts += 1
        await self._gate()
        return await self._pool.fetchval(query, *args)


async def _one_caller(
    store: Store, component_store: Store
) -> tuple[Counting, TimedDesk, datetime, datetime]:
    """One caller waiting, and a desk over the gated pool; with the window to ask about."""
    await add_missed(store, "+12125550101", 10)
    counting = Counting(component_store.pool)
    now = datetime.now(UTC)
    return counting, TimedDesk(Callbacks(counting), 5.0), now - timedelta(days=14), now


async def test_desks_asking_the_same_question_at_once_share_one_query(
    store: Store, component_store: Store
) -> None:
    counting, desk, since, now = await _one_caller(store, component_store)
    asks = [asyncio.create_task(desk.waiting(("*",), since, now)) for _ in range(16)]
    other = asyncio.create_task(desk.waiting(("2000",), since, now))  # another scope: its own
    async with asyncio.timeout(5):
        while counting.queries < 2:  # both scopes' queries are at the gate
            await asyncio.sleep(0)
    asks[0].cancel()  # a desk hangs up mid-query: the others still get their answer
    counting.gate.set()
    answers = await asyncio.gather(*asks[1:], other)
    assert counting.queries == 2
    assert all([c.number_key for c in a] == ["+12125550101"] for a in answers)
    assert answers[0] is not answers[1]  # each desk its own list
    # Nothing is kept once answered: the next press asks again.
    await desk.waiting(("*",), since, now)
    assert counting.queries == 3
    # "How many" is shared the same way.
    counts = [desk.waiting_count(("*",), since, now) for _ in range(16)]
    assert await asyncio.gather(*counts) == [1] * 16
    assert counting.counts == 1


async def test_a_list_is_read_once_the_counts_running_then_have_answered(
    store: Store, component_store: Store
) -> None:
    # Desks still waiting for their count go first: a list asked meanwhile waits for it.
    counting, desk, since, now = await _one_caller(store, component_store)
    count = asyncio.create_task(desk.waiting_count(("*",), since, now))
    async with asyncio.timeout(5):
        while counting.counts < 1:
            await asyncio.sleep(0)
    soon = desk.waiting_soon(("*",), since, now)
    try:
        for _ in range(20):
            await asyncio.sleep(0)
        assert counting.queries == 0  # held while the count is in PostgreSQL
        counting.gate.set()
        callers = await soon.result()
    finally:
        await soon.close()
    assert await count == 1
    assert counting.queries == 1 and [c.number_key for c in callers] == ["+12125550101"]


async def test_a_shared_query_that_times_out_fails_every_desk_that_joined(
    component_store: Store,
) -> None:
    counting = Counting(component_store.pool)  # the gate never opens
    desk = TimedDesk(Callbacks(counting), 0.2)
    now = datetime.now(UTC)
    asks = [desk.waiting(("*",), now - timedelta(days=1), now) for _ in range(3)]
    results = await asyncio.gather(*asks, return_exceptions=True)
    assert counting.queries == 1
    assert all(isinstance(r, StoreTimeout) for r in results)


async def test_sessions_stopped_while_their_list_is_read_cancel_the_read(
    component_store: Store,
) -> None:
    # The server shutting down cancels its sessions: a list still being read for them is
    # cancelled too, once no session waits for it (a hang-up lets it finish: agi.runtime).
    counting = Counting(component_store.pool)  # the gate never opens
    desk = TimedDesk(Callbacks(counting), 60.0)
    now = datetime.now(UTC)
    others = asyncio.all_tasks()

    async def session() -> None:
        soon = desk.waiting_soon(("*",), now - timedelta(days=1), now)
        try:
            await asyncio.Event().wait()  # the count being said
        finally:
            await soon.close()

    sessions = [asyncio.create_task(session()) for _ in range(3)]
    async with asyncio.timeout(5):
        while counting.queries < 1:
            await asyncio.sleep(0)
        sessions[0].cancel()
        await asyncio.wait(sessions[:1])
        assert counting.cancelled == 0  # the others still wait for it
        for s in sessions[1:]:
            s.cancel()
        await asyncio.wait(sessions)
    assert (counting.queries, counting.cancelled) == (1, 1)
    assert asyncio.all_tasks() == others
