"""Gap detection over a real socket (fake AMI server) into a real PostgreSQL: a restart or an AMI
cut is recorded as a gap, filled or not, and the report shows it. (Filling from real CEL/CDR
rows: tests/unit/test_records.py; end to end with real calls: tests/lab/test_gaps_lab.py.)"""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from ami_listener.gaps import watch
from ami_listener.listener import Listener
from callback_desk.core.record import replace
from callback_desk.core.store import Store
from callback_desk.report.command import ReportOptions, run
from fakes.ami_server import FakeAmi
from fakes.poll import until
from fakes.settings import make_settings
from tests.conftest import as_role

# The component under test connects with cbd_listener's rights only (sql/grants.sql).
pytestmark = pytest.mark.db_role("cbd_listener")


@pytest.fixture
def store(component_store: Store) -> Store:
    """The listener writes with its own role's rights, not the owner's."""
    return component_store


def settings_for(ami: FakeAmi, db: str, **reconcile: Any) -> Any:
    return make_settings(
        db,
        ami={"port": ami.port, "secret": "s3cret", "ping_interval": 1.0, "reconnect_max": 1.0},
        pbx={"name": "lab"},
        listener={"settle_seconds": 0.2},
        reconcile={"instance": "one", "heartbeat_seconds": 1, "recheck_seconds": 1, **reconcile},
    )


@asynccontextmanager
async def listening(settings: Any, store: Store) -> AsyncIterator[Listener]:
    listener = Listener(settings, store, watch(settings, store))
    task = asyncio.create_task(listener.run())
    try:
        async with asyncio.timeout(10):
            await listener.wait_logged_in()
        yield listener
    finally:
        listener.stop()
        async with asyncio.timeout(10):
            await task


async def fetch(dsn: str, sql: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(dsn)
    try:
        rows: list[asyncpg.Record] = await conn.fetch(sql)
        return rows
    finally:
        await conn.close()


async def gaps(dsn: str) -> list[asyncpg.Record]:
    return await fetch(dsn, "SELECT * FROM listener_gaps ORDER BY id")


async def settled_gaps(dsn: str, count: int) -> list[asyncpg.Record]:
    async def ready() -> bool:
        rows = await gaps(dsn)
        return len(rows) >= count and all(r["filled_by"] != "pending" for r in rows)

    await until(ready, timeout=10, what=f"{count} gap(s) recorded and settled")
    return await gaps(dsn)


async def beat(dsn: str) -> bool:
    return bool(await fetch(dsn, "SELECT 1 FROM listener_heartbeats"))


async def test_first_start_is_no_gap_and_a_restart_is_one(
    ami: FakeAmi, store: Store, db_dsn: str, owner_dsn: str
) -> None:
    settings = settings_for(ami, db_dsn)
    async with listening(settings, store):
        await until(lambda: beat(db_dsn), what="a heartbeat")
    assert await gaps(db_dsn) == []  # never listened before: nothing was missed
    stopped = datetime.now(UTC)
    async with listening(settings, store) as listener:
        [gap] = await settled_gaps(db_dsn, 1)
        assert listener.gaps is not None and [g.id for g in listener.gaps.gaps] == [gap["id"]]
    assert (gap["source"], gap["filled_by"], gap["rows_added"]) == (
        "startup",
        "not_configured",
        0,
    )
    # From the last heartbeat before the stop to the login after it.
    assert gap["started_at"] <= stopped <= gap["ended_at"]
    assert gap["ended_at"] - gap["started_at"] < timedelta(seconds=30)
    # The morning report says nobody listened then, and that it was not read back.
    out = io.StringIO()
    options = ReportOptions(since=stopped - timedelta(hours=1), week=False)
    report = settings_for(ami, as_role(owner_dsn, "cbd_report"))
    assert await run(report, options, out, datetime.now(UTC)) == 0
    assert "Not listening:" in out.getvalue()
    assert "(listener not running) — NOT read back" in out.getvalue()
    # ... in the page and the email too, and in JSON for machines.
    page = io.StringIO()
    assert await run(report, replace(options, format="html"), page, datetime.now(UTC)) == 0
    assert "<h2" in page.getvalue() and "Not listening</h2>" in page.getvalue()
    assert "(listener not running) — NOT read back" in page.getvalue()
    doc = io.StringIO()
    assert await run(report, replace(options, format="json"), doc, datetime.now(UTC)) == 0
    [listed] = json.loads(doc.getvalue())["gaps"]
    assert (listed["source"], listed["filled_by"], listed["rows_added"]) == (
        "startup",
        "not_configured",
        0,
    )


async def test_an_ami_cut_is_a_gap_and_the_listener_goes_on(
    ami: FakeAmi, store: Store, db_dsn: str
) -> None:
    settings = settings_for(ami, db_dsn)
    async with listening(settings, store) as listener:
        await until(lambda: beat(db_dsn), what="a heartbeat")
        await ami.drop()
        [gap] = await settled_gaps(db_dsn, 1)
        assert gap["source"] == "ami_cut"
        assert listener.client is not None and listener.client.logged_in.is_set()


async def test_an_unreadable_source_marks_the_gap_failed_and_is_retried(
    ami: FakeAmi, store: Store, db_dsn: str
) -> None:
    # FreePBX's MariaDB is down (nothing listens on port 9): a recoverable failure.
    settings = settings_for(
        ami,
        db_dsn,
        enabled=True,
        source="mysql",
        dsn="mysql://cdr:secret-pw@127.0.0.1:9/asteriskcdrdb",
        rechecks=2,
    )
    async with listening(settings, store) as listener:
        await until(lambda: beat(db_dsn), what="a heartbeat")
    async with listening(settings, store) as listener:
        [gap] = await settled_gaps(db_dsn, 1)
        assert gap["filled_by"] == "failed"
        assert "cannot reach the PBX's MySQL" in gap["detail"]
        assert "secret-pw" not in gap["detail"]
        # Tried again later, and the listener is still listening.
        await until(lambda: _filled_at_moved(db_dsn, gap["filled_at"]), timeout=10, what="a retry")
        assert listener.client is not None and listener.client.logged_in.is_set()


async def _filled_at_moved(dsn: str, first: datetime) -> bool:
    [gap] = await gaps(dsn)
    return bool(gap["filled_at"] > first)
