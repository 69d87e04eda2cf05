"""The listener under faults: a task that fails, PostgreSQL away, a SIGKILL, a restart mid-call.

Real PostgreSQL (reached through a TCP proxy the test cuts, never by stopping the shared
server), the real ``callback-desk listen`` process where exit codes and SIGKILL matter, and the
strict fake AMI server over a real socket.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import asyncpg
import pytest

import ami_listener.listener as listener_module
from ami_listener.listener import Listener
from ami_listener.spool import Spool
from callback_desk.core.exceptions import ListenerFailed
from callback_desk.core.model import CallRecord
from callback_desk.core.store import Store
from fakes.ami_server import FakeAmi
from fakes.frames import answered_call, missed_call
from fakes.poll import until
from fakes.proxy import CuttableProxy
from fakes.settings import make_settings
from tests.listener_support import ListenProcess, spooled

# The listener connects with cbd_listener's rights only (sql/grants.sql), in process and as the
# `listen` subprocess; set-up and checks use the owner's (owner_dsn).
pytestmark = pytest.mark.db_role("cbd_listener")


def settings_for(ami: FakeAmi, dsn: str, state_dir: Path, **listener: Any) -> Any:
    return make_settings(
        dsn,
        ami={"port": ami.port, "secret": "s3cret", "ping_interval": 1.0, "reconnect_max": 1.0},
        pbx={"name": "lab"},
        listener={"settle_seconds": 0.2, "state_dir": str(state_dir), **listener},
    )


async def rows(dsn: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(dsn)
    try:
        result: list[asyncpg.Record] = await conn.fetch("SELECT * FROM calls ORDER BY id")
        return result
    finally:
        await conn.close()


async def wait_rows(dsn: str, count: int, timeout: float = 15) -> list[asyncpg.Record]:
    async def enough() -> bool:
        return len(await rows(dsn)) >= count

    await until(enough, timeout, what=f"{count} rows in calls")
    return await rows(dsn)


def fake_ami_env(ami: FakeAmi, dsn: str, state_dir: Path) -> dict[str, str]:
    return {
        "CALLBACK_DESK_DATABASE_DSN": dsn,
        "CALLBACK_DESK_AMI_PORT": str(ami.port),
        "CALLBACK_DESK_AMI_SECRET": "s3cret",
        "CALLBACK_DESK_PBX_NAME": "lab",
        "CALLBACK_DESK_LISTENER_SETTLE_SECONDS": "0.2",
        "CALLBACK_DESK_LISTENER_STATE_DIR": str(state_dir),
    }


@pytest.fixture
async def proxy(db_dsn: str) -> AsyncIterator[tuple[CuttableProxy, str]]:
    proxy, dsn = await CuttableProxy.for_dsn(db_dsn)
    try:
        yield proxy, dsn
    finally:
        await proxy.close()


# -- fail loudly --------------------------------------------------------------------------------


class ExplodingSink:
    """A sink with a bug: anything but our exception tree must end the listener."""

    async def record_calls(self, pbx: str, calls: Sequence[CallRecord]) -> int:
        raise RuntimeError(f"bug while writing {calls[0].number}")


async def test_a_task_that_fails_ends_run_with_one_safe_line(ami: FakeAmi, tmp_path: Path) -> None:
    listener = Listener(settings_for(ami, "postgresql://unused/", tmp_path), ExplodingSink())
    task = asyncio.create_task(listener.run())
    async with asyncio.timeout(10):
        await listener.wait_logged_in()
    await ami.push(*missed_call("1.1", num="2125550166"))
    with pytest.raises(ListenerFailed) as failed:
        async with asyncio.timeout(15):
            await task
    text = str(failed.value)
    assert "writer task failed" in text and "RuntimeError" in text
    assert "2125550166" not in text  # an unknown exception's text may quote a caller value


async def test_listen_exits_1_with_one_line_when_its_writer_fails(
    ami: FakeAmi, owner_dsn: str, db_dsn: str, tmp_path: Path
) -> None:
    proc = await ListenProcess(fake_ami_env(ami, db_dsn, tmp_path)).start()
    try:
        await until(lambda: ami.logins >= 1, timeout=15, what="listen logged in")
        conn = await asyncpg.connect(owner_dsn)
        try:
            await conn.execute("DROP TABLE calls CASCADE")  # an admin's mistake mid-run
        finally:
            await conn.close()
        await ami.push(*missed_call("2.1"))
        code, err = await proc.finish()
    finally:
        await proc.kill()
    assert code == 1, err
    failed = [line for line in err.splitlines() if "task failed" in line]
    assert len(failed) == 1 and "migrate" in failed[0], err
    assert "Traceback" not in err
    assert spooled(tmp_path) == ["2.1"]  # kept for the next start


async def test_incomplete_channel_list_is_logged_and_the_listener_goes_on(
    ami: FakeAmi,
    owner_dsn: str,
    component_store: Store,
    db_dsn: str,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)

    def truncated(action: dict[str, str]) -> list[str]:
        # Says 2 channels follow, lists one: closing calls on it would end a live call.
        action_id = action.get("actionid", "")
        return [
            f"Response: Success\r\nActionID: {action_id}\r\nEventList: start\r\n\r\n",
            f"Event: CoreShowChannel\r\nActionID: {action_id}\r\nUniqueid: 3.1\r\n\r\n",
            f"Event: CoreShowChannelsComplete\r\nActionID: {action_id}\r\n"
            "EventList: Complete\r\nListItems: 2\r\n\r\n",
        ]

    ami.responders["coreshowchannels"] = truncated
    listener = Listener(settings_for(ami, db_dsn, tmp_path), component_store)
    task = asyncio.create_task(listener.run())
    try:
        async with asyncio.timeout(10):
            await listener.wait_logged_in()
        await ami.push(*missed_call("3.1")[:3])
        await until(lambda: listener.tracker.open_calls == 1, what="call open")
        await ami.drop()
        await until(
            lambda: any(getattr(r, "action", "") == "reconcile_failed" for r in caplog.records),
            what="reconcile failure logged",
        )
        assert "AmiError" in caplog.text
        assert listener.tracker.open_calls == 1 and not task.done()
        await until(lambda: ami.connected == 1, what="reconnected")
        await ami.push(*missed_call("3.1")[3:])
        [row] = await wait_rows(owner_dsn, 1)
        assert (row["linkedid"], row["reason"]) == ("3.1", "hangup_while_ringing")
    finally:
        listener.stop()
        async with asyncio.timeout(10):
            await task


# -- the durable spool --------------------------------------------------------------------------


async def test_calls_decided_while_the_database_is_down_survive_sigkill(
    ami: FakeAmi, owner_dsn: str, db_dsn: str, proxy: tuple[CuttableProxy, str], tmp_path: Path
) -> None:
    pg, via_proxy = proxy
    pg.cut()
    first = await ListenProcess(fake_ami_env(ami, via_proxy, tmp_path)).start()
    try:
        await until(lambda: ami.logins >= 1, timeout=15, what="listen logged in")
        expected = [f"4.{i}" for i in range(5)]
        for linkedid in expected:
            await ami.push(*missed_call(linkedid))
        await until(lambda: sorted(spooled(tmp_path)) == expected, what="5 calls spooled")
    finally:
        await first.kill()  # SIGKILL: no shutdown code runs
    assert await rows(owner_dsn) == []
    pg.restore()
    second = await ListenProcess(fake_ami_env(ami, via_proxy, tmp_path)).start()
    try:
        got = await wait_rows(owner_dsn, 5)
        code, err = await second.finish(signal.SIGTERM)
    finally:
        await second.kill()
    assert code == 0, err
    assert [r["linkedid"] for r in got] == expected  # in order, each once
    assert len(await rows(owner_dsn)) == 5
    assert spooled(tmp_path) == []  # committed calls are forgotten by the spool


async def test_a_restart_mid_call_decides_the_call_from_what_follows(
    ami: FakeAmi, owner_dsn: str, component_store: Store, db_dsn: str, tmp_path: Path
) -> None:
    settings = settings_for(ami, db_dsn, tmp_path)
    frames = answered_call("5.1")  # rings, then DialEnd ANSWER and hang-ups
    frames_gone = missed_call("5.2")

    async def run_once(push: list[str], live: list[str], rows_after: int = 0) -> None:
        ami.channels = live
        spool = await Spool.open(tmp_path, 1 << 20)
        listener = Listener(settings, component_store, spool=spool)
        task = asyncio.create_task(listener.run())
        try:
            async with asyncio.timeout(10):
                await listener.wait_logged_in()
            await ami.push(*push)
            # + FullyBooted, which counts as an event too
            await until(lambda: listener.stats["events"] > len(push), what="events read")
            if rows_after:
                await wait_rows(owner_dsn, rows_after)
        finally:
            listener.stop()
            async with asyncio.timeout(10):
                await task
            await spool.close()

    # Both calls are ringing when the listener stops.
    await run_once(frames[:3] + frames_gone[:3], [])
    assert await rows(owner_dsn) == []
    # While it was down, 5.2's caller hung up (the PBX no longer lists its channels); 5.1 is
    # answered after the restart.
    await run_once(frames[3:], ["5.1", "5.11"], rows_after=2)
    got = {r["linkedid"]: (r["outcome"], r["reason"]) for r in await rows(owner_dsn)}
    assert got == {"5.1": ("answered", "answered"), "5.2": ("missed", "unknown_end")}


async def test_a_full_spool_warns_and_keeps_calls_in_memory(
    ami: FakeAmi, store: Store, db_dsn: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    spool = await Spool.open(tmp_path, 80 * 1024)  # a few dozen calls
    listener = Listener(settings_for(ami, db_dsn, tmp_path), DownSink(), spool=spool)
    task = asyncio.create_task(listener.run())
    try:
        async with asyncio.timeout(10):
            await listener.wait_logged_in()

        def logged(action: str) -> bool:
            return any(getattr(r, "action", "") == action for r in caplog.records)

        sent = 0
        while not logged("spool_full"):
            assert sent < 1000, "the spool never filled"
            await ami.push(
                *[f for i in range(5) for f in missed_call(f"6.{sent + i}", name="x" * 200)]
            )
            sent += 5
            await until(lambda n=sent: listener.stats["decided"] == n, what="decided")
            await until(lambda: not listener._decided or logged("spool_full"), what="spooled")
        actions = [getattr(r, "action", "") for r in caplog.records]
        assert actions.count("spool_full") == 1
        assert actions.index("spool_filling") < actions.index("spool_full")
        # Nothing dropped: what the spool refused waits in memory.
        assert listener.stats["dropped"] == 0
        assert listener.stats["spooled"] + len(listener._decided) == sent
    finally:
        listener.stop()
        async with asyncio.timeout(15):
            await task
        await spool.close()


class DownSink:
    async def record_calls(self, pbx: str, calls: Sequence[CallRecord]) -> int:
        from callback_desk.core.exceptions import StoreUnavailable

        raise StoreUnavailable("down (test)")


# -- batching and back-pressure -----------------------------------------------------------------


class CountingStore:
    """The real store, counting statements (a narrow seam of our own)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.statements = 0

    async def record_calls(self, pbx: str, calls: Sequence[CallRecord]) -> int:
        self.statements += 1
        return await self.store.record_calls(pbx, calls)


async def test_a_burst_is_written_in_batches_in_order_with_reading_paused(
    ami: FakeAmi,
    owner_dsn: str,
    component_store: Store,
    db_dsn: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(listener_module, "MAX_QUEUED", 200)
    counting = CountingStore(component_store)
    listener = Listener(settings_for(ami, db_dsn, tmp_path, settle_seconds=0.0), counting)
    task = asyncio.create_task(listener.run())
    try:
        async with asyncio.timeout(10):
            await listener.wait_logged_in()
        calls = 2000
        frames = [f for i in range(calls) for f in missed_call(f"7.{i}", num=f"21255{i:05d}")]
        await ami.push(*frames)
        got = await wait_rows(owner_dsn, calls, timeout=60)
        assert [r["linkedid"] for r in got] == [f"7.{i}" for i in range(calls)]
        assert counting.statements < calls // 5  # batched, not one statement per call
        assert listener.stats["paused"] >= 1  # the burst waited in the kernel, not our heap
        assert listener.stats["stored"] == calls
    finally:
        listener.stop()
        async with asyncio.timeout(10):
            await task


# -- hostile input ------------------------------------------------------------------------------


async def test_nul_in_caller_id_is_stored_replaced_and_the_call_kept(
    ami: FakeAmi, owner_dsn: str, component_store: Store, db_dsn: str, tmp_path: Path
) -> None:
    listener = Listener(settings_for(ami, db_dsn, tmp_path), component_store)
    task = asyncio.create_task(listener.run())
    try:
        async with asyncio.timeout(10):
            await listener.wait_logged_in()
        await ami.push(*missed_call("8.1", num="21255\x0050177", name="Ev\x00il\x07\x1b[2J"))
        await ami.push(*missed_call("8.2"))
        got = await wait_rows(owner_dsn, 2)
        assert got[0]["name"] == "Ev\ufffdil\x07\x1b[2J"  # other controls as received
        assert got[0]["number"] == "21255\ufffd50177" and got[0]["callable"] is False
    finally:
        listener.stop()
        async with asyncio.timeout(10):
            await task


async def test_timestamp_far_in_the_future_is_replaced_by_the_receipt_time(
    ami: FakeAmi,
    owner_dsn: str,
    component_store: Store,
    db_dsn: str,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING)
    listener = Listener(settings_for(ami, db_dsn, tmp_path), component_store)
    task = asyncio.create_task(listener.run())
    try:
        async with asyncio.timeout(10):
            await listener.wait_logged_in()
        frames = missed_call("9.1", num="2125550188")
        stamped = [f.replace("\r\n\r\n", "\r\nTimestamp: 253402300000.0\r\n\r\n") for f in frames]
        await ami.push(*stamped)
        [row] = await wait_rows(owner_dsn, 1)
        conn = await asyncpg.connect(owner_dsn)
        try:
            skew = await conn.fetchval(
                "SELECT abs(extract(epoch FROM now() - $1::timestamptz))", row["started_at"]
            )
        finally:
            await conn.close()
        assert skew < 3600
        assert any(getattr(r, "action", "") == "clock_skew" for r in caplog.records)
        assert "2125550188" not in caplog.text and "253402300000" not in caplog.text
    finally:
        listener.stop()
        async with asyncio.timeout(10):
            await task


async def test_a_call_postgresql_refuses_is_set_aside_and_its_values_never_logged(
    ami: FakeAmi,
    owner_dsn: str,
    component_store: Store,
    db_dsn: str,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    conn = await asyncpg.connect(owner_dsn)
    try:
        # PostgreSQL's own text would quote the row: "Failing row contains (..., Mallory...)".
        await conn.execute("ALTER TABLE calls ADD CONSTRAINT t CHECK (name <> 'Mallory Q')")
    finally:
        await conn.close()
    listener = Listener(settings_for(ami, db_dsn, tmp_path), component_store)
    task = asyncio.create_task(listener.run())
    try:
        async with asyncio.timeout(10):
            await listener.wait_logged_in()
        await ami.push(
            *missed_call("10.1"),
            *missed_call("10.2", num="2125550199", name="Mallory Q"),
            *missed_call("10.3"),
        )
        await until(lambda: listener.stats["rejected"] == 1, what="one call set aside")
        got = await wait_rows(owner_dsn, 2)
        assert [r["linkedid"] for r in got] == ["10.1", "10.3"]
        assert "CheckViolationError" in caplog.text and "23514" in caplog.text
        assert "Mallory" not in caplog.text and "2125550199" not in caplog.text
    finally:
        listener.stop()
        async with asyncio.timeout(10):
            await task


async def test_reconnect_without_reporting_warns_once_and_keeps_listening(
    ami: FakeAmi,
    owner_dsn: str,
    component_store: Store,
    db_dsn: str,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING)
    ami.channels = None  # CoreShowChannels: Permission denied
    listener = Listener(settings_for(ami, db_dsn, tmp_path), component_store)
    task = asyncio.create_task(listener.run())
    try:
        async with asyncio.timeout(10):
            await listener.wait_logged_in()
        for logins in (2, 3):
            await ami.drop()
            await until(lambda n=logins: ami.logins >= n and ami.connected == 1, what="login")
        await ami.push(*missed_call("11.1"))
        [row] = await wait_rows(owner_dsn, 1)
        assert row["linkedid"] == "11.1"
        refused = [r for r in caplog.records if getattr(r, "action", "") == "reconcile_refused"]
        assert len(refused) == 1
        assert "write = reporting" in refused[0].getMessage()
        assert "read = system" not in caplog.text
    finally:
        listener.stop()
        async with asyncio.timeout(10):
            await task
