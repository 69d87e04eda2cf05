"""The listener's spool on a real file: order, durability across reopening, bounds, set-asides."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from ami_listener.spool import FILENAME, Spool
from callback_desk.core.exceptions import SpoolError, SpoolFull
from callback_desk.core.model import CallRecord, Direction, Outcome, Reason

T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)


def record(linkedid: str, name: str = "Zoë \x00 <x>") -> CallRecord:
    return CallRecord(
        linkedid=linkedid,
        direction=Direction.INBOUND,
        outcome=Outcome.MISSED,
        reason=Reason.HANGUP_WHILE_RINGING,
        number="2125550123",
        name=name,
        number_key="+12125550123",
        callable=True,
        did="2000",
        rang=("100@phones", "101@phones"),
        started_at=T0,
        ended_at=T0 + timedelta(seconds=12),
        ring_seconds=11.5,
        reached_voicemail=False,
    )


async def test_calls_come_back_in_order_after_reopening(tmp_path: Path) -> None:
    spool = await Spool.open(tmp_path, 1 << 20)
    first = await spool.append("pbx", [record("a"), record("b")])
    assert await spool.append("pbx", [record("c")]) == first + 2
    await spool.close()

    again = await Spool.open(tmp_path, 1 << 20)
    try:
        items = await again.oldest(0, 10)
        assert [(i.seq, i.record.linkedid) for i in items] == [
            (first, "a"),
            (first + 1, "b"),
            (first + 2, "c"),
        ]
        assert items[0].record == record("a")  # every field, NUL included, round-trips
        await again.forget(first + 1)
        assert [i.record.linkedid for i in await again.oldest(0, 10)] == ["c"]
        # Sequence numbers never go back, even once everything is forgotten.
        await again.forget(first + 2)
        assert await again.append("pbx", [record("d")]) == first + 3
    finally:
        await again.close()


async def test_a_full_spool_refuses_the_whole_append(tmp_path: Path) -> None:
    spool = await Spool.open(tmp_path, 64 * 1024)
    try:
        with pytest.raises(SpoolFull):
            for i in range(10_000):
                await spool.append("pbx", [record(str(i), name="x" * 300)])
        kept = await spool.count()
        assert 0 < kept < 10_000
        with pytest.raises(SpoolFull):
            await spool.append("pbx", [record("late", name="x" * 300)] * 5)
        assert await spool.count() == kept
        assert spool.fill > 0.8
    finally:
        await spool.close()


async def test_a_rejected_call_is_kept_aside_for_the_admin(tmp_path: Path) -> None:
    spool = await Spool.open(tmp_path, 1 << 20)
    try:
        await spool.append("pbx", [record("a"), record("b")])
        [a, _b] = await spool.oldest(0, 10)
        await spool.reject(a, "CheckViolationError, SQLSTATE 23514")
        assert [i.record.linkedid for i in await spool.oldest(0, 10)] == ["b"]
    finally:
        await spool.close()
    db = sqlite3.connect(tmp_path / FILENAME)
    try:
        [(why,)] = db.execute("SELECT why FROM rejected").fetchall()
    finally:
        db.close()
    assert "23514" in why


async def test_calls_in_progress_are_restored_once(tmp_path: Path) -> None:
    spool = await Spool.open(tmp_path, 1 << 20)
    try:
        await spool.save_open([{"linkedid": "x", "name": "Zoë"}], 1234.5)
        assert await spool.take_open() == ([{"linkedid": "x", "name": "Zoë"}], 1234.5)
        assert await spool.take_open() == ([], None)
    finally:
        await spool.close()


async def test_a_missing_state_directory_is_created_private(tmp_path: Path) -> None:
    spool = await Spool.open(tmp_path / "absent" / "state", 1 << 20)
    await spool.close()
    assert (tmp_path / "absent" / "state").stat().st_mode & 0o777 == 0o700


async def test_an_unusable_state_directory_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(SpoolError, match="state_dir"):
        await Spool.open(tmp_path / "file" / "state", 1 << 20)


async def test_a_corrupt_spool_file_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / FILENAME).write_bytes(b"not a database" * 100)
    with pytest.raises(SpoolError, match="cannot open the spool"):
        await Spool.open(tmp_path, 1 << 20)


async def test_a_call_this_version_cannot_read_is_set_aside(tmp_path: Path) -> None:
    spool = await Spool.open(tmp_path, 1 << 20)
    try:
        await spool.append("pbx", [record("a"), record("b")])
    finally:
        await spool.close()
    db = sqlite3.connect(tmp_path / FILENAME)
    try:
        with db:
            db.execute(
                "UPDATE decided SET record = replace(record, 'hangup_while_ringing', "
                "'from_the_future') WHERE json_extract(record, '$[0]') = 'a'"
            )
    finally:
        db.close()
    spool = await Spool.open(tmp_path, 1 << 20)
    try:
        assert [i.record.linkedid for i in await spool.oldest(0, 10)] == ["b"]
        assert await spool.count() == 1
    finally:
        await spool.close()


async def test_a_second_listener_on_the_same_spool_is_refused(tmp_path: Path) -> None:
    first = await Spool.open(tmp_path, 1 << 20)
    try:
        with pytest.raises(SpoolError, match="another listener"):
            await Spool.open(tmp_path, 1 << 20)
    finally:
        await first.close()
    again = await Spool.open(tmp_path, 1 << 20)  # free once the first one is closed
    await again.close()


async def test_every_commit_is_fsynced_wal_with_synchronous_full(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A spooled call counts as recorded: with synchronous NORMAL (or OFF) a power cut can lose
    # the last commits. The spool must set FULL itself, whatever SQLite's build default is:
    # every connection here starts with OFF.
    connect = sqlite3.connect

    def careless(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        db: sqlite3.Connection = connect(*args, **kwargs)
        db.execute("PRAGMA synchronous = OFF")
        return db

    monkeypatch.setattr(sqlite3, "connect", careless)
    spool = await Spool.open(tmp_path, 1 << 20)
    try:
        assert await spool.durability() == ("wal", 2)  # 2 = FULL: the WAL fsynced per commit
    finally:
        await spool.close()


@pytest.mark.parametrize("umask", [0o022, 0o000])
async def test_spool_files_are_private_whatever_the_umask(tmp_path: Path, umask: int) -> None:
    """The spool holds callers' numbers and names: 0600 even in a state directory someone made
    0755, under a permissive umask, and for files an older version left wider."""
    import os

    state = tmp_path / "state"
    state.mkdir(mode=0o755)
    state.chmod(0o755)
    (state / f"{FILENAME}-wal").write_bytes(b"")  # left 0644 by an older version
    (state / f"{FILENAME}-wal").chmod(0o644)
    before = os.umask(umask)
    try:
        spool = await Spool.open(state, 1 << 20)
        try:
            await spool.append("pbx", [record("a")])
            await spool.save_open([{"linkedid": "x"}], 1.0)
            modes = {p.name: p.stat().st_mode & 0o777 for p in state.iterdir()}
        finally:
            await spool.close()
    finally:
        os.umask(before)
    assert {FILENAME, f"{FILENAME}-wal", "listener-spool.lock"} <= set(modes)
    assert modes == dict.fromkeys(modes, 0o600)
