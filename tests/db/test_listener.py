"""The listener end to end over a real socket (fake AMI server) into a real PostgreSQL."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Sequence
from typing import Any

import asyncpg
import pytest

from ami_listener.listener import Listener
from callback_desk.core.amiframe import FrameBuffer
from callback_desk.core.exceptions import StoreUnavailable
from callback_desk.core.model import CallRecord
from callback_desk.core.store import Store
from fakes.ami_server import FakeAmi
from fakes.frames import answered_call, channel, event, missed_call
from fakes.poll import until
from fakes.settings import make_settings

# The component under test connects with cbd_listener's rights only (sql/grants.sql).
pytestmark = pytest.mark.db_role("cbd_listener")


@pytest.fixture
def store(component_store: Store) -> Store:
    """The listener writes with its own role's rights, not the owner's."""
    return component_store


class Harness:
    def __init__(self, listener: Listener, task: asyncio.Task[None], dsn: str) -> None:
        self.listener = listener
        self.task = task
        self.dsn = dsn

    async def rows(self) -> list[asyncpg.Record]:
        conn = await asyncpg.connect(self.dsn)
        try:
            rows: list[asyncpg.Record] = await conn.fetch("SELECT * FROM calls ORDER BY id")
            return rows
        finally:
            await conn.close()

    async def wait_rows(self, count: int, timeout: float = 10) -> list[asyncpg.Record]:
        async def enough() -> bool:
            return len(await self.rows()) >= count

        await until(enough, timeout, what=f"{count} rows in calls")
        return await self.rows()


async def start(settings: Any, sink: Any, dsn: str) -> Harness:
    listener = Listener(settings, sink)
    task = asyncio.create_task(listener.run())
    async with asyncio.timeout(10):
        await listener.wait_logged_in()
    return Harness(listener, task, dsn)


async def stop(h: Harness) -> None:
    h.listener.stop()
    async with asyncio.timeout(10):
        await h.task


def settings_for(ami: FakeAmi, dsn: str, secret: str = "s3cret", **listener: Any) -> Any:
    return make_settings(
        dsn,
        ami={"port": ami.port, "secret": secret, "ping_interval": 1.0, "reconnect_max": 1.0},
        pbx={"name": "lab"},
        listener={"settle_seconds": 0.2, **listener},
    )


@pytest.fixture
async def running(ami: FakeAmi, store: Store, db_dsn: str) -> AsyncIterator[Harness]:
    h = await start(settings_for(ami, db_dsn), store, db_dsn)
    try:
        yield h
    finally:
        await stop(h)


async def test_missed_call_becomes_one_row(ami: FakeAmi, running: Harness) -> None:
    await ami.push(*missed_call("100.1"))
    [row] = await running.wait_rows(1)
    assert (row["pbx"], row["linkedid"], row["outcome"], row["reason"]) == (
        "lab",
        "100.1",
        "missed",
        "hangup_while_ringing",
    )
    assert row["number"] == "2125550123" and row["did"] == "2000"


async def test_replayed_events_write_nothing_new(ami: FakeAmi, running: Harness) -> None:
    await ami.push(*missed_call("100.1"))
    await running.wait_rows(1)
    await ami.push(*missed_call("100.1"))
    await ami.push(*answered_call("100.2"))
    rows = await running.wait_rows(2)
    await until(lambda: running.listener.stats["duplicates"] == 1, what="duplicate counted")
    assert [r["linkedid"] for r in rows] == ["100.1", "100.2"]


async def test_a_batch_in_one_write_keeps_its_order(ami: FakeAmi, running: Harness) -> None:
    frames: list[str] = []
    for i in range(20):
        frames += missed_call(f"200.{i}") if i % 2 else answered_call(f"200.{i}")
    await ami.push(*frames)
    rows = await running.wait_rows(20)
    assert [r["linkedid"] for r in rows] == [f"200.{i}" for i in range(20)]
    assert [r["outcome"] for r in rows] == ["answered", "missed"] * 10


async def test_multibyte_character_split_across_reads_survives(
    ami: FakeAmi, running: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    frames = "".join(missed_call("300.1", name="José Ärger 日本")).encode("utf-8")
    cut = frames.index("é".encode()) + 1  # in the middle of the two-byte é
    read: list[bytes] = []
    feed = FrameBuffer.feed

    def spy(self: FrameBuffer, data: bytes) -> list[str]:
        read.append(bytes(data))
        return feed(self, data)

    monkeypatch.setattr(FrameBuffer, "feed", spy)  # sees what each read of the socket gave
    await ami.push_bytes(frames[:cut])
    # The second half leaves only once the first was read: the é is split between two reads.
    await until(lambda: b"".join(read).endswith(frames[:cut]), what="the first half read")
    await ami.push_bytes(frames[cut:])
    [row] = await running.wait_rows(1)
    assert row["name"] == "José Ärger 日本"


async def test_malformed_frames_are_skipped_and_the_stream_goes_on(
    ami: FakeAmi, running: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    await ami.push(
        event("Hangup", Uniqueid="x"),
        "garbage without colon\r\n\r\n",
        event("DialEnd", Timestamp="not-a-time"),
        *missed_call("400.1"),
    )
    [row] = await running.wait_rows(1)
    assert row["linkedid"] == "400.1"
    assert running.listener.stats["malformed"] == 2
    assert sum(r.action == "malformed_event" for r in caplog.records) == 2  # type: ignore[attr-defined]


async def test_hostile_caller_id_is_stored_verbatim_and_not_logged(
    ami: FakeAmi, running: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    name = 'Bob "The Builder", Jr & Co\'); DROP TABLE calls;-- <script>'
    await ami.push(*missed_call("500.1", num="2125550199", name=name))
    [row] = await running.wait_rows(1)
    assert row["name"] == name
    text = caplog.text
    assert "2125550199" not in text and "Builder" not in text


async def test_reconnects_after_the_connection_drops(
    ami: FakeAmi, running: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    await ami.drop()
    await until(lambda: ami.logins >= 2 and ami.connected == 1, what="second login")
    await ami.push(*missed_call("600.1"))
    [row] = await running.wait_rows(1)
    assert row["linkedid"] == "600.1"
    actions = {getattr(r, "action", None) for r in caplog.records}
    assert {"ami_disconnect", "ami_login"} <= actions


async def test_silent_pbx_is_detected_by_the_ping_watchdog(
    ami: FakeAmi, running: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    ami.silent = True
    await until(
        lambda: any(getattr(r, "action", None) == "ami_ping_timeout" for r in caplog.records),
        timeout=6,
        what="ping timeout",
    )
    ami.silent = False
    await until(lambda: ami.logins >= 2, timeout=6, what="login after watchdog")


async def test_pbx_restart_closes_calls_left_open(ami: FakeAmi, running: Harness) -> None:
    # The call starts, then the PBX goes away and comes back freshly booted.
    await ami.push(*missed_call("700.1")[:3])
    await until(lambda: running.listener.tracker.open_calls == 1, what="open call")
    ami.uptime = 1
    await ami.drop()
    [row] = await running.wait_rows(1)
    assert (row["linkedid"], row["reason"]) == ("700.1", "unknown_end")


async def test_refused_login_is_logged_and_retried(
    ami: FakeAmi, store: Store, db_dsn: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR)
    listener = Listener(settings_for(ami, db_dsn, secret="wrong"), store)
    task = asyncio.create_task(listener.run())
    await until(lambda: ami.failed_logins >= 2, timeout=8, what="two refused logins")
    assert any(getattr(r, "action", None) == "ami_login_refused" for r in caplog.records)
    assert "wrong" not in caplog.text
    listener.stop()
    async with asyncio.timeout(10):
        await task


class FlakySink:
    """The real store behind a switch that makes it unreachable (a narrow seam of our own)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.down = True
        self.refused = 0

    async def record_calls(self, pbx: str, calls: Sequence[CallRecord]) -> int:
        if self.down:
            self.refused += 1
            raise StoreUnavailable("database is down (test)")
        return await self.store.record_calls(pbx, calls)


async def test_database_outage_loses_nothing(ami: FakeAmi, store: Store, db_dsn: str) -> None:
    sink = FlakySink(store)
    h = await start(settings_for(ami, db_dsn), sink, db_dsn)
    try:
        for i in range(5):
            await ami.push(*missed_call(f"800.{i}"))
        await until(lambda: sink.refused >= 2, what="writes refused while down")
        assert await h.rows() == []
        sink.down = False
        rows = await h.wait_rows(5, timeout=15)
        assert [r["linkedid"] for r in rows] == [f"800.{i}" for i in range(5)]
    finally:
        await stop(h)


async def test_calls_over_at_shutdown_are_written_before_exit(
    ami: FakeAmi, store: Store, db_dsn: str
) -> None:
    h = await start(settings_for(ami, db_dsn, settle_seconds=30.0), store, db_dsn)
    await ami.push(*missed_call("900.1"))
    await ami.push(event("Newchannel", **channel("900.2", "900.2")))  # still ringing
    await until(
        lambda: h.listener.tracker.open_calls == 2 and h.listener.stats["events"] >= 7,
        what="both calls seen",
    )
    await stop(h)
    assert [r["linkedid"] for r in await h.rows()] == ["900.1"]


async def test_two_listeners_on_one_pbx_write_one_row_per_call(
    ami: FakeAmi, store: Store, db_dsn: str
) -> None:
    first = await start(settings_for(ami, db_dsn), store, db_dsn)
    second = await start(settings_for(ami, db_dsn), store, db_dsn)
    try:
        await until(lambda: ami.connected == 2, what="both listeners connected")
        for i in range(10):
            await ami.push(*missed_call(f"950.{i}"))
        await until(
            lambda: all(h.listener.stats["decided"] == 10 for h in (first, second)),
            what="both listeners decided every call",
        )
        await until(
            lambda: (
                sum(
                    h.listener.stats["stored"] + h.listener.stats["duplicates"]
                    for h in (first, second)
                )
                == 20
            ),
            what="all writes done",
        )
        rows = await first.rows()
        assert sorted(r["linkedid"] for r in rows) == sorted(f"950.{i}" for i in range(10))
        assert first.listener.stats["stored"] + second.listener.stats["stored"] == 10
    finally:
        await stop(first)
        await stop(second)


async def test_calls_that_ended_during_an_outage_are_closed_after_reconnecting(
    ami: FakeAmi, running: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    # Two calls ring; the link drops; one of them ends unseen, the other is still up.
    await ami.push(*missed_call("960.1")[:3], *missed_call("960.2")[:3])
    await until(lambda: running.listener.tracker.open_calls == 2, what="two open calls")
    ami.channels = ["960.2", "960.21"]
    await ami.drop()
    [row] = await running.wait_rows(1)
    assert (row["linkedid"], row["outcome"], row["reason"]) == ("960.1", "missed", "unknown_end")
    assert running.listener.tracker.open_calls == 1
    assert any(getattr(r, "action", None) == "reconciled" for r in caplog.records)
    # The surviving call goes on as usual.
    await ami.push(*missed_call("960.2")[3:])
    rows = await running.wait_rows(2)
    assert (rows[1]["linkedid"], rows[1]["reason"]) == ("960.2", "hangup_while_ringing")


async def test_calls_past_max_open_calls_close_the_oldest_as_unknown_end(
    ami: FakeAmi, store: Store, db_dsn: str, caplog: pytest.LogCaptureFixture
) -> None:
    # Three calls that ring and never end (their Hangups lost), two allowed open: the oldest is
    # recorded as a missed call whose end was not seen, and the operator is told why.
    caplog.set_level(logging.WARNING)
    h = await start(settings_for(ami, db_dsn, max_open_calls=2), store, db_dsn)
    try:
        for n in range(3):
            await ami.push(*missed_call(f"700.{n}", num=f"212555017{n}")[:3])
        [row] = await h.wait_rows(1)
        assert (row["linkedid"], row["outcome"], row["reason"]) == (
            "700.0",
            "missed",
            "unknown_end",
        )
        assert row["number_key"] == "+12125550170" and row["rang"] == ["100@phones"]
        assert h.listener.stats["over_bound"] == 1 and h.listener.tracker.open_calls == 2
        [warning] = [r for r in caplog.records if getattr(r, "action", "") == "open_calls_bound"]
        assert "max_open_calls" in warning.getMessage() and "2125550170" not in caplog.text
    finally:
        await stop(h)
    # At shutdown the two still open are saved for the next start, not written.
    assert len(await h.rows()) == 1
