"""Recorded lab traces (tests/data/*.ami) replayed through a fake AMI socket into PostgreSQL.

The traces were captured from the lab PBX with the product's own AMI account (see
tests/data/README.md); replaying them checks the decisions without a running Asterisk.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import pytest

from ami_listener.listener import Listener
from callback_desk.core.store import Store
from fakes.ami_server import FakeAmi, load_trace
from fakes.frames import missed_call
from fakes.poll import until
from fakes.settings import make_settings

# The component under test connects with cbd_listener's rights only (sql/grants.sql).
pytestmark = pytest.mark.db_role("cbd_listener")


@pytest.fixture
def store(component_store: Store) -> Store:
    """The listener writes with its own role's rights, not the owner's."""
    return component_store


# trace -> the rows it must produce: (direction, outcome, reason, reached_voicemail)
EXPECTED: dict[str, list[tuple[str, str, str, bool]]] = {
    "direct_answered.ami": [("inbound", "answered", "answered", False)],
    "direct_hangup_ringing.ami": [("inbound", "missed", "hangup_while_ringing", False)],
    "direct_greeting_hangup.ami": [("inbound", "missed", "voicemail_greeting", True)],
    "direct_voicemail_left.ami": [("inbound", "voicemail", "voicemail_left", True)],
    "ringgroup_one_answers.ami": [("inbound", "answered", "answered", False)],
    "ringgroup_nobody.ami": [("inbound", "missed", "no_answer", False)],
    "queue_abandon.ami": [("inbound", "missed", "queue_abandoned", False)],
    "ivr_hangup.ami": [("inbound", "missed", "ivr_hangup", False)],
    "internal_call.ami": [],
    "outbound_answered.ami": [("outbound", "answered", "answered", False)],
    "anonymous.ami": [("inbound", "missed", "hangup_while_ringing", False)],
}


@pytest.fixture
async def replay(store: Store, db_dsn: str) -> AsyncIterator[tuple[FakeAmi, Listener]]:
    ami = await FakeAmi().start()
    settings = make_settings(
        db_dsn,
        ami={"port": ami.port, "secret": "s3cret"},
        pbx={"name": "lab", "inbound_contexts": ["from-pstn"]},
        listener={"settle_seconds": 0.1},
    )
    listener = Listener(settings, store)
    task = asyncio.create_task(listener.run())
    async with asyncio.timeout(10):
        await listener.wait_logged_in()
    try:
        yield ami, listener
    finally:
        listener.stop()
        async with asyncio.timeout(10):
            await task
        await ami.close()
    assert not ami.unexpected


async def rows(dsn: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(dsn)
    try:
        result: list[asyncpg.Record] = await conn.fetch("SELECT * FROM calls ORDER BY id")
        return result
    finally:
        await conn.close()


@pytest.mark.parametrize("trace", sorted(EXPECTED))
async def test_recorded_trace_decides_as_the_lab_did(
    replay: tuple[FakeAmi, Listener], db_dsn: str, trace: str
) -> None:
    ami, listener = replay
    await ami.push(*load_trace(trace))
    # A sentinel call after the trace: once its row exists, the trace has been decided.
    await ami.push(*missed_call("sentinel.1", num="9999"))
    await until(
        lambda: listener.stats["stored"] >= len(EXPECTED[trace]) + 1,
        what="trace and sentinel written",
    )
    got = [
        (r["direction"], r["outcome"], r["reason"], r["reached_voicemail"])
        for r in await rows(db_dsn)
        if r["linkedid"] != "sentinel.1"
    ]
    assert got == EXPECTED[trace]
    assert listener.tracker.open_calls == 0
    assert listener.stats["malformed"] == 0


async def test_anonymous_trace_is_not_callable(replay: tuple[FakeAmi, Listener], db_dsn: str):
    ami, listener = replay
    await ami.push(*load_trace("anonymous.ami"))
    await until(lambda: listener.stats["stored"] == 1, what="row written")
    [row] = await rows(db_dsn)
    assert (row["number"], row["callable"], row["number_key"]) == ("anonymous", False, None)


async def test_hostile_trace_keeps_the_caller_id_verbatim(
    replay: tuple[FakeAmi, Listener], db_dsn: str
) -> None:
    ami, listener = replay
    frames = load_trace("hostile_callerid.ami")
    names = {
        line.partition(": ")[2]
        for frame in frames
        if frame.startswith("Event: Newchannel") and "Context: from-pstn" in frame
        for line in frame.split("\r\n")
        if line.startswith("CallerIDName: ")
    }
    await ami.push(*frames)
    await until(
        lambda: listener.tracker.open_calls == 0 and listener.stats["stored"] >= 1,
        what="rows written",
    )
    stored = {r["name"] for r in await rows(db_dsn)}
    assert stored and stored <= names


async def test_all_traces_in_one_stream_write_one_row_per_call(
    replay: tuple[FakeAmi, Listener], db_dsn: str
) -> None:
    ami, listener = replay
    frames = [f for trace in sorted(EXPECTED) for f in load_trace(trace)]
    await ami.push(*frames)
    expected = sum(len(v) for v in EXPECTED.values())
    await until(lambda: listener.stats["stored"] >= expected, what="all rows")
    # Replaying everything again (a reconnect, a second listener) adds nothing.
    await ami.push(*frames)
    await until(lambda: listener.stats["duplicates"] >= expected, what="duplicates seen")
    assert len(await rows(db_dsn)) == expected
