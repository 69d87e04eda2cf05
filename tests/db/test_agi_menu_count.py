"""The menu says how many callers wait, then reads out who, while the FastAGI server reads the
list during the count (agi.runtime.Prefetch): what happens to that read when the desk hangs up
(tests/db/test_agi_session.py: when the server stops) or the database fails, and when a caller
counted is returned before the list is read; against the real server (or the classic process),
a strict fake Asterisk and the real database. (tests/db/test_agi_menu.py walks the menu itself,
in both modes.)"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from agi.queries import Callbacks
from callback_desk.core.model import Disposition
from callback_desk.core.store import Store
from fakes.agi_peer import AgiPeer, env
from fakes.agi_runner import run_classic, run_fastagi, toml_text
from fakes.settings import make_settings
from tests.agi_support import add_missed

pytestmark = pytest.mark.db_role("cbd_desk")

AGI = {"digit_timeout": 1.0, "retries": 1, "db_timeout": 5.0}
PBX = {"timezone": "America/New_York", "country": "US"}
A, B = "+12125550101", "+12125550102"


class Gated:
    """The real pool, except that reading a list (``fetch``), or with ``count`` counting
    (``fetchval``), waits for :attr:`gate`, or fails with :attr:`error` once let through."""

    def __init__(self, pool: Any, error: Exception | None = None, *, count: bool = False) -> None:
        self._pool = pool
        self.error = error
        self.count = count
        self.gate = asyncio.Event()
        self.reading = asyncio.Event()
        self.read = False
        self.cancelled = False

    async def _gated(self, run: Any, query: str, *args: Any) -> Any:
        self.reading.set()
        try:
            await self.gate.wait()
        except asyncio.CancelledError:
            self.cancelled = True
            raise
        if self.error is not None:
            raise self.error
        result = await run(query, *args)
        self.read = True
        return result

    async def fetch(self, query: str, *args: Any) -> Sequence[Any]:
        if self.count:
            return list(await self._pool.fetch(query, *args))
        return list(await self._gated(self._pool.fetch, query, *args))

    async def fetchrow(self, query: str, *args: Any) -> Any:
        return await self._pool.fetchrow(query, *args)

    async def fetchval(self, query: str, *args: Any) -> Any:
        if not self.count:
            return await self._pool.fetchval(query, *args)
        return await self._gated(self._pool.fetchval, query, *args)


def _others() -> set[asyncio.Task[Any]]:
    return {t for t in asyncio.all_tasks() if t is not asyncio.current_task()}


async def test_the_count_comes_before_the_list_is_read_and_the_callers_follow(
    db_dsn: str, store: Store, component_store: Store
) -> None:
    await add_missed(store, A, 10)
    await add_missed(store, B, 20)
    gated = Gated(component_store.pool)

    async def count_said_before_the_list_arrives() -> None:
        # The list is being read and held at the gate: the count did not wait for it.
        async with asyncio.timeout(5):
            await gated.reading.wait()
        gated.gate.set()

    peer = AgiPeer(env("menu", "100"), keys=["2", "2"])
    peer.before["SAY NUMBER"] = count_said_before_the_list_arrives
    await run_fastagi(make_settings(db_dsn, pbx=PBX, agi=AGI), Callbacks(gated), peer)
    assert peer.unexpected == [] and peer.status() == "OK"
    said = [p for p in peer.played if p.startswith("SAY ")]
    assert said[0] == "SAY NUMBER:2"
    assert [p for p in said if p.startswith("SAY DIGITS")] == [
        "SAY DIGITS:2125550101",
        "SAY DIGITS:2125550102",
    ]
    assert peer.played[-4:] == ["conf-thereare", "SAY NUMBER:2", "queue-quantity2", "vm-goodbye"]


async def test_a_hang_up_during_the_count_ends_the_session_once_the_list_is_read(
    db_dsn: str, store: Store, component_store: Store
) -> None:
    # The read is let finish rather than interrupted (agi.runtime.Prefetch), and the session
    # ends only after it: nothing is left running.
    await add_missed(store, A, 10)
    gated = Gated(component_store.pool)
    before = _others()
    read_by_then: list[bool] = []

    async def list_on_its_way() -> None:
        async with asyncio.timeout(5):
            await gated.reading.wait()
        gated.gate.set()

    async def session_ending() -> None:
        read_by_then.append(gated.read)

    # ANSWER, "you have", then the desk hangs up as the number is said.
    peer = AgiPeer(env("menu", "100"), hangup_at=3)
    peer.before["SAY NUMBER"] = list_on_its_way
    peer.before["SET VARIABLE"] = session_ending
    await run_fastagi(make_settings(db_dsn, pbx=PBX, agi=AGI), Callbacks(gated), peer)
    assert peer.unexpected == [] and peer.status() == "HANGUP"
    assert peer.played == ["vm-youhave"]
    assert read_by_then == [True] and not gated.cancelled
    assert _others() == before


async def test_a_database_error_reading_the_list_apologises_as_before(
    db_dsn: str, store: Store, component_store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    await add_missed(store, A, 10)
    lost = asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed")
    gated = Gated(component_store.pool, error=lost)
    gated.gate.set()
    before = _others()
    peer = AgiPeer(env("menu", "100"), keys=["1"])
    with caplog.at_level(logging.INFO):
        await run_fastagi(make_settings(db_dsn, pbx=PBX, agi=AGI), Callbacks(gated), peer)
    assert peer.unexpected == [] and peer.execs == []
    # The count was said; then the apology and the failure path, as when the database is down.
    assert peer.played == [
        "vm-youhave",
        "SAY NUMBER:1",
        "call-waiting",
        "im-sorry",
        "please-try-call-later",
    ]
    assert peer.status() == "FAILED"
    assert [r.action for r in caplog.records if hasattr(r, "action")].count("agi_db_down") == 1
    assert _others() == before


# The count, then the list found empty: the one caller counted was marked handled by another
# desk in between. The list is what the menu walks: it says nobody waits now and ends.
RETURNED_MEANWHILE = [
    "vm-youhave",
    "SAY NUMBER:1",
    "call-waiting",
    "conf-thereare",
    "vm-no",
    "queue-quantity2",
    "vm-goodbye",
]


async def test_a_caller_returned_while_the_count_is_said_is_not_read_out_fastagi(
    db_dsn: str, store: Store, component_store: Store
) -> None:
    call_id = await add_missed(store, A, 10)
    gated = Gated(component_store.pool)

    async def another_desk_returns_the_call() -> None:
        async with asyncio.timeout(5):
            await gated.reading.wait()
        await Callbacks(store.pool).dispose(call_id, A, Disposition.HANDLED, "101")
        gated.gate.set()

    peer = AgiPeer(env("menu", "100"), keys=["1"])
    peer.before["SAY NUMBER"] = another_desk_returns_the_call
    await run_fastagi(make_settings(db_dsn, pbx=PBX, agi=AGI), Callbacks(gated), peer)
    assert peer.unexpected == [] and peer.status() == "OK" and peer.execs == []
    assert peer.played == RETURNED_MEANWHILE


async def test_a_caller_returned_while_the_count_is_said_is_not_read_out_classic(
    db_dsn: str, store: Store, tmp_path: Path
) -> None:
    # One process, one connection: the list is read once the count has been said.
    call_id = await add_missed(store, A, 10)

    async def another_desk_returns_the_call() -> None:
        await Callbacks(store.pool).dispose(call_id, A, Disposition.HANDLED, "101")

    config = tmp_path / "callback-desk.toml"
    config.write_text(toml_text({"database": {"dsn": db_dsn}, "pbx": PBX, "agi": AGI}))
    peer = AgiPeer(env("menu", "100"), keys=["1"])
    peer.before["SAY NUMBER"] = another_desk_returns_the_call
    rc, err = await run_classic(config, peer)
    assert rc == 0, err
    assert peer.unexpected == [] and peer.status() == "OK" and peer.execs == []
    assert peer.played == RETURNED_MEANWHILE


async def test_the_count_is_asked_while_the_desk_is_answered(
    db_dsn: str, store: Store, component_store: Store
) -> None:
    await add_missed(store, A, 10)
    gated = Gated(component_store.pool, count=True)

    async def counting_before_the_answer() -> None:
        # Asterisk has not answered yet, and the count is already being read.
        async with asyncio.timeout(5):
            await gated.reading.wait()
        gated.gate.set()

    peer = AgiPeer(env("menu", "100"), keys=["*"])
    peer.before["ANSWER"] = counting_before_the_answer
    await run_fastagi(make_settings(db_dsn, pbx=PBX, agi=AGI), Callbacks(gated), peer)
    assert peer.unexpected == [] and peer.status() == "OK"
    assert peer.played[:3] == ["vm-youhave", "SAY NUMBER:1", "call-waiting"]


async def _hang_up_at_answer(db_dsn: str, gated: Gated) -> AgiPeer:
    """A desk that hangs up as it is answered, the count on its way in PostgreSQL; returns once
    the session has ended."""

    async def count_on_its_way() -> None:
        async with asyncio.timeout(5):
            await gated.reading.wait()
        gated.gate.set()

    peer = AgiPeer(env("menu", "100"), hangup_at=1)
    peer.before["ANSWER"] = count_on_its_way
    await run_fastagi(make_settings(db_dsn, pbx=PBX, agi=AGI), Callbacks(gated), peer)
    assert peer.unexpected == [] and peer.status() == "HANGUP" and peer.played == []
    return peer


async def test_a_hang_up_while_the_desk_is_answered_leaves_nothing_running(
    db_dsn: str, store: Store, component_store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    # The count being read when the desk hangs up is let finish, as the list is (Prefetch);
    # the session ends after it, quietly.
    await add_missed(store, A, 10)
    gated = Gated(component_store.pool, count=True)
    before = _others()
    with caplog.at_level(logging.INFO):
        await _hang_up_at_answer(db_dsn, gated)
    assert not gated.cancelled
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []
    assert "agi_prefetch_failed" not in [getattr(r, "action", "") for r in caplog.records]
    assert _others() == before


async def test_a_count_failing_after_the_desk_hung_up_is_logged_not_raised(
    db_dsn: str, store: Store, component_store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    await add_missed(store, A, 10)
    lost = asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed")
    before = _others()
    with caplog.at_level(logging.INFO):
        await _hang_up_at_answer(db_dsn, Gated(component_store.pool, lost, count=True))
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []
    failed = [r for r in caplog.records if getattr(r, "action", "") == "agi_prefetch_failed"]
    assert [r.getMessage().split(":")[0] for r in failed] == [
        "Reading the count failed after the menu stopped waiting for it"
    ]
    assert _others() == before
