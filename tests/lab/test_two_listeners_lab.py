"""Two listeners on the lab PBX: two `callback-desk listen` processes, one SIGKILLed in the middle
of a stream of real calls (every call one row, decided right); and two that disagree about a
call (the decision with more evidence wins, whichever writes last)."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from ami_listener.listener import Listener
from callback_desk.core.store import Store
from fakes.poll import until
from fakes.proxy import CuttableProxy
from fakes.settings import make_settings
from tests.lab.lab import DID_DIRECT, DID_RINGGROUP, PRODUCT_USER, Lab

pytestmark = pytest.mark.lab


async def fetch(dsn: str, sql: str, *args: object) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(dsn)
    try:
        rows: list[asyncpg.Record] = await conn.fetch(sql, *args)
        return rows
    finally:
        await conn.close()


async def start_listener(dsn: str, instance: str, state_dir: Path) -> asyncio.subprocess.Process:
    env = {
        **os.environ,
        "CALLBACK_DESK_CONFIG": "/dev/null",
        "CALLBACK_DESK_DATABASE_DSN": dsn,
        "CALLBACK_DESK_AMI_HOST": "127.0.0.1",
        "CALLBACK_DESK_AMI_USERNAME": PRODUCT_USER["username"],
        "CALLBACK_DESK_AMI_SECRET": PRODUCT_USER["secret"],
        "CALLBACK_DESK_PBX_NAME": "lab",
        "CALLBACK_DESK_PBX_INBOUND_CONTEXTS": "from-pstn",
        "CALLBACK_DESK_LISTENER_SETTLE_SECONDS": "1",
        # The heartbeat says when each one is logged in to AMI.
        "CALLBACK_DESK_RECONCILE_INSTANCE": instance,
        "CALLBACK_DESK_RECONCILE_HEARTBEAT_SECONDS": "1",
        # Each listener its own spool, as on two hosts (one state_dir serves one listener).
        "CALLBACK_DESK_LISTENER_STATE_DIR": str(state_dir),
    }
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "callback_desk.cli", "listen", env=env,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip


@pytest.fixture
async def two(db_dsn: str, tmp_path: Path) -> AsyncIterator[dict[str, asyncio.subprocess.Process]]:
    procs = {name: await start_listener(db_dsn, name, tmp_path / name) for name in ("a", "b")}

    async def both_in() -> bool:
        rows = await fetch(db_dsn, "SELECT listener FROM listener_heartbeats")
        return {r["listener"] for r in rows} == {"a", "b"}

    try:
        await until(both_in, timeout=30, interval=0.2, what="both listeners logged in")
        yield procs
    finally:
        for proc in procs.values():
            if proc.returncode is None:
                proc.send_signal(signal.SIGTERM)
                async with asyncio.timeout(20):
                    await proc.wait()


async def test_one_of_two_listeners_killed_mid_stream_loses_and_doubles_nothing(
    lab: Lab, db_dsn: str, two: dict[str, asyncio.subprocess.Process]
) -> None:
    await lab.set_behaviour("phones", "100", "ring")
    await lab.set_behaviour("phones", "101", "answer")
    expected: dict[str, str] = {}
    calls: list[str] = []
    for i in range(8):
        number = f"21255566{i:02d}"
        if i % 2:  # the ring group: desk 101 answers
            expected[number] = "answered"
            calls.append(await lab.inbound_call(DID_RINGGROUP, number, "Caller", then="talk"))
        else:  # the direct line: desk 100 only rings, the caller gives up
            expected[number] = "missed"
            calls.append(await lab.inbound_call(DID_DIRECT, number, "Caller", ring_timeout_ms=2500))
        if i == 3:
            # Calls are in progress on both listeners: one of them dies without a word.
            two["b"].kill()
            assert await two["b"].wait() == -signal.SIGKILL
        await asyncio.sleep(0.4)  # a steady stream, not a burst (pacing, not synchronisation)
    for call in calls:
        await lab.wait_call_ended(call, timeout=60)

    async def all_rows() -> bool:
        rows = await fetch(db_dsn, "SELECT 1 FROM calls WHERE number LIKE '21255566%'")
        return len(rows) >= len(expected)

    await until(all_rows, timeout=60, interval=0.3, what="a row for every call")
    await lab.wait_pbx_idle(30)
    rows = await fetch(
        db_dsn,
        "SELECT number, outcome, reason, count(*) OVER (PARTITION BY number) AS n "
        "FROM calls WHERE number LIKE '21255566%'",
    )
    assert {r["number"]: r["outcome"] for r in rows} == expected
    assert {r["n"] for r in rows} == {1}
    assert {r["reason"] for r in rows if r["outcome"] == "missed"} == {"hangup_while_ringing"}
    # The survivor is still listening.
    assert two["a"].returncode is None


async def test_when_two_listeners_disagree_the_decision_with_more_evidence_wins(
    lab: Lab, store: Store, db_dsn: str
) -> None:
    """Listener A loses its AMI link while a call rings and ends (it can only say
    ``unknown_end``); listener B saw the end but decides later. B's decision replaces A's.

    The order is made by events, not by settle windows raced against a clock: B's window is
    an hour, so B decides only when it stops (a listener decides the calls it saw end before it
    exits), and it is stopped once A's row is there."""
    proxy = await CuttableProxy("127.0.0.1", 5038).start()
    other = await Store.open(make_settings(db_dsn).database)
    a = Listener(lab_settings(db_dsn, port=proxy.port, settle=1.0), store)
    b = Listener(lab_settings(db_dsn, port=5038, settle=3600.0), other)
    number = "2125556650"

    def b_saw_it_end() -> bool:
        return any(c["ended_at"] is not None for c in b.tracker.snapshot(0.0))

    try:
        async with running(a):
            async with running(b):
                await lab.set_behaviour("phones", "100", "ring")
                call = await lab.inbound_call(DID_DIRECT, number, "Caller", ring_timeout_ms=4000)
                await until(lambda: a.tracker.open_calls >= 1, timeout=15, what="A following it")
                proxy.cut()
                await lab.wait_call_ended(call, timeout=30)
                await lab.wait_pbx_idle(30)
                await until(b_saw_it_end, timeout=15, what="B seeing the call end")
                proxy.restore()
                # A reconnects, finds the call's channels gone and closes it without a seen end.
                first = await row_when(db_dsn, number, lambda r: r["reason"] == "unknown_end")
                assert not await fetch(
                    db_dsn,
                    "SELECT 1 FROM calls WHERE number = $1 AND reason <> 'unknown_end'",
                    number,
                )
            # B stopped: it decided the call it saw end, wrote it after A, and wins.
            final = await row_when(db_dsn, number, lambda r: r["reason"] != "unknown_end")
    finally:
        await proxy.close()
        await other.close()
    assert (first["outcome"], final["outcome"]) == ("missed", "missed")
    assert final["reason"] == "hangup_while_ringing" and final["id"] == first["id"]
    assert len(await fetch(db_dsn, "SELECT 1 FROM calls WHERE number = $1", number)) == 1


def lab_settings(dsn: str, port: int, settle: float) -> Any:
    return make_settings(
        dsn,
        ami={
            "host": "127.0.0.1",
            "port": port,
            "username": PRODUCT_USER["username"],
            "secret": PRODUCT_USER["secret"],
            "reconnect_max": 1.0,
        },
        pbx={"name": "lab", "inbound_contexts": ["from-pstn"]},
        listener={"settle_seconds": settle},
    )


@asynccontextmanager
async def running(listener: Listener) -> AsyncIterator[Listener]:
    task = asyncio.create_task(listener.run())
    try:
        async with asyncio.timeout(15):
            await listener.wait_logged_in()
        yield listener
    finally:
        listener.stop()
        async with asyncio.timeout(20):
            await task


async def row_when(
    dsn: str, number: str, predicate: Callable[[asyncpg.Record], bool]
) -> asyncpg.Record:
    found: list[asyncpg.Record] = []

    async def seen() -> bool:
        rows = await fetch(dsn, "SELECT * FROM calls WHERE number = $1", number)
        found[:] = [r for r in rows if predicate(r)]
        return bool(found)

    await until(seen, timeout=30, interval=0.1, what=f"the row of {number}")
    return found[0]
