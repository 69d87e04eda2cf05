"""The spool with real calls: PostgreSQL cut, calls missed, the listener SIGKILLed, all back.

The lab PBX places the calls; ``callback-desk listen`` runs as a real process; PostgreSQL is
reached through a proxy the test cuts (the machine's server is shared, never stopped).
"""

from __future__ import annotations

import signal
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from fakes.poll import until
from fakes.proxy import CuttableProxy
from tests.lab.lab import DID_DIRECT, PRODUCT_USER, Lab
from tests.listener_support import ListenProcess, spooled

pytestmark = pytest.mark.lab

NUMBERS = ["2125550161", "2125550162", "2125550163"]


@pytest.fixture
async def proxy(db_dsn: str) -> AsyncIterator[tuple[CuttableProxy, str]]:
    proxy, dsn = await CuttableProxy.for_dsn(db_dsn)
    try:
        yield proxy, dsn
    finally:
        await proxy.close()


def lab_env(dsn: str, state_dir: Path) -> dict[str, str]:
    return {
        "CALLBACK_DESK_DATABASE_DSN": dsn,
        "CALLBACK_DESK_AMI_HOST": "127.0.0.1",
        "CALLBACK_DESK_AMI_PORT": "5038",
        "CALLBACK_DESK_AMI_USERNAME": PRODUCT_USER["username"],
        "CALLBACK_DESK_AMI_SECRET": PRODUCT_USER["secret"],
        "CALLBACK_DESK_PBX_NAME": "lab",
        "CALLBACK_DESK_PBX_INBOUND_CONTEXTS": "from-pstn",
        "CALLBACK_DESK_LISTENER_SETTLE_SECONDS": "1",
        "CALLBACK_DESK_LISTENER_STATE_DIR": str(state_dir),
    }


async def rows(dsn: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(dsn)
    try:
        result: list[asyncpg.Record] = await conn.fetch("SELECT * FROM calls ORDER BY id")
        return result
    finally:
        await conn.close()


async def test_missed_calls_survive_a_database_outage_and_a_sigkill(
    lab: Lab, db_dsn: str, proxy: tuple[CuttableProxy, str], tmp_path: Path
) -> None:
    pg, via_proxy = proxy
    pg.cut()
    first = await ListenProcess(lab_env(via_proxy, tmp_path)).start()
    try:
        await until(lambda: first.logged("Logged in to AMI"), timeout=20, what="listen logged in")
        for number in NUMBERS:
            call = await lab.inbound_call(DID_DIRECT, number, "Caller", ring_timeout_ms=1500)
            await lab.wait_call_ended(call, timeout=60)
        await until(lambda: len(spooled(tmp_path)) == 3, timeout=20, what="3 calls spooled")
    finally:
        await first.kill()
    assert await rows(db_dsn) == []
    pg.restore()
    second = await ListenProcess(lab_env(via_proxy, tmp_path)).start()
    try:

        async def written() -> bool:
            return len(await rows(db_dsn)) >= 3

        await until(written, timeout=30, what="3 rows")
        code, err = await second.finish(signal.SIGTERM)
    finally:
        await second.kill()
    assert code == 0, err
    got = await rows(db_dsn)
    assert [r["number"] for r in got] == NUMBERS  # every call, in order, none twice
    assert {(r["outcome"], r["reason"]) for r in got} == {("missed", "hangup_while_ringing")}
    assert spooled(tmp_path) == []


async def test_a_restart_in_the_middle_of_a_real_call_decides_it_from_its_end(
    lab: Lab, db_dsn: str, tmp_path: Path
) -> None:
    # Without the saved state, the new listener would never hear of this call (it began before
    # it was listening) and the caller would be lost; with it, the hang-up it sees decides it.
    env = lab_env(db_dsn, tmp_path)
    first = await ListenProcess(env).start()
    try:
        await until(lambda: first.logged("Logged in to AMI"), timeout=20, what="listen logged in")
        call = await lab.inbound_call(DID_DIRECT, "2125550171", "Caller", ring_timeout_ms=5000)

        async def ringing() -> bool:
            return await lab.channel_count("pbx") >= 2  # the trunk leg and the desk ringing

        await until(ringing, timeout=20, interval=0.1, what="the desk ringing")
        code, err = await first.finish(signal.SIGTERM)
    finally:
        await first.kill()
    assert code == 0, err
    assert "1 calls in progress saved" in err
    second = await ListenProcess(env).start()
    try:
        await lab.wait_call_ended(call, timeout=60)

        async def written() -> bool:
            return len(await rows(db_dsn)) >= 1

        await until(written, timeout=30, what="the call's row")
        code, err = await second.finish(signal.SIGTERM)
    finally:
        await second.kill()
    assert code == 0, err
    [row] = await rows(db_dsn)
    assert (row["number"], row["outcome"], row["reason"]) == (
        "2125550171",
        "missed",
        "hangup_while_ringing",
    )
