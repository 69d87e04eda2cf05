"""Gaps in the real lab: calls placed while a listener was stopped are found again in the PBX's
own CEL/CDR tables (the lab PBX writes them to database cbd_lab_cdr in PostgreSQL and, over
ODBC as FreePBX does, in MariaDB; both set up by ``labctl up``), and the report is the one a
listener running throughout would have given.

A reference listener runs throughout on its own database; the listeners under test (one reading
the CEL that cel_pgsql wrote to PostgreSQL, one the CEL that FreePBX's cel_odbc wrote to MariaDB,
each on its own database) log in, beat their heart, are stopped, the calls are placed, and they
are started again.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import pytest

from ami_listener.gaps import watch
from ami_listener.listener import Listener
from callback_desk.core.store import Store
from fakes.poll import until
from fakes.settings import make_settings
from tests.lab.lab import DID_DIRECT, DID_IVR, DID_QUEUE, DID_RINGGROUP, PRODUCT_USER, Lab
from tests.lab.test_listener_lab import Pbx

pytestmark = pytest.mark.lab

LAB_PG = os.environ.get("CALLBACK_DESK_LAB_PG", "postgresql://postgres@127.0.0.1:5432")
CDR_DSN = f"{LAB_PG}/cbd_lab_cdr"


def listener_settings(db: str, **reconcile: Any) -> Any:
    return make_settings(
        db,
        ami={
            "host": "127.0.0.1",
            "port": 5038,
            "username": PRODUCT_USER["username"],
            "secret": PRODUCT_USER["secret"],
        },
        pbx={"name": "lab", "inbound_contexts": ["from-pstn"]},
        listener={"settle_seconds": 1.0},
        reconcile=reconcile,
    )


def reconciling(db: str, records: str, instance: str, **source: str) -> Any:
    return listener_settings(
        db,
        enabled=True,
        **({"source": "postgresql", "dsn": CDR_DSN} | source),
        records=records,
        # cel_pgsql usegmtime / cdr_pgsql timezone = UTC (tests/lab/etc/pbx); cel_odbc writes
        # local time, and the lab root's zone is UTC.
        timezone="UTC",
        instance=instance,
        heartbeat_seconds=1,
        margin_seconds=5,
        recheck_seconds=2,
        rechecks=5,
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


async def fetch(dsn: str, sql: str, *args: Any) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(dsn)
    try:
        rows: list[asyncpg.Record] = await conn.fetch(sql, *args)
        return rows
    finally:
        await conn.close()


@asynccontextmanager
async def another_db(pg_server_dsn: str, template_db: str) -> AsyncIterator[str]:
    """One more fresh database (the conftest's ``db_dsn`` gives one per test)."""
    from tests.conftest import _admin, _with_database

    name = f"cbd_test_{uuid.uuid4().hex[:10]}"
    await _admin(pg_server_dsn, f'CREATE DATABASE "{name}" TEMPLATE "{template_db}"')
    try:
        yield _with_database(pg_server_dsn, name)
    finally:
        await _admin(pg_server_dsn, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
async def second_db(pg_server_dsn: str, template_db: str) -> AsyncIterator[str]:
    async with another_db(pg_server_dsn, template_db) as dsn:
        yield dsn


@pytest.fixture
async def third_db(pg_server_dsn: str, template_db: str) -> AsyncIterator[str]:
    async with another_db(pg_server_dsn, template_db) as dsn:
        yield dsn


async def place_every_kind(lab: Lab, prefix: str) -> dict[str, str]:
    """Calls of every kind the listener tells apart; returns number -> kind."""
    kinds: dict[str, str] = {}

    async def inbound(kind: str, did: str, suffix: str, **kw: Any) -> str:
        number = f"{prefix}{suffix}"
        kinds[number] = kind
        return await lab.inbound_call(did, number, f"Caller {suffix}", **kw)

    # Nobody answers: these run side by side (desk phones only ring).
    await lab.set_behaviour("phones", "100", "ring")
    await lab.set_behaviour("phones", "101", "ring")
    missed = [
        await inbound("hangup_while_ringing", DID_DIRECT, "01", ring_timeout_ms=3000),
        await inbound("greeting", DID_DIRECT, "02", then="greeting"),
        await inbound("voicemail", DID_DIRECT, "03", then="message"),
        await inbound("ringgroup_nobody", DID_RINGGROUP, "04", then="talk"),
        await inbound("queue_abandoned", DID_QUEUE, "05", ring_timeout_ms=7000),
        await inbound("ivr", DID_IVR, "06", then="talk", variables={"HOLD": 2}),
    ]
    for call in missed:
        await lab.wait_call_ended(call, timeout=90)
    # Someone answers.
    await lab.set_behaviour("phones", "100", "answer")
    await lab.set_behaviour("phones", "101", "answer")
    answered = [
        await inbound("answered", DID_DIRECT, "07", then="talk", variables={"HOLD": 2}),
        await inbound("ringgroup_answered", DID_RINGGROUP, "08", then="talk"),
    ]
    outbound = f"{prefix}09"
    kinds[outbound] = "outbound"
    answered.append(await lab.desk_call("100", outbound, then="talk", variables={"HOLD": 2}))
    answered.append(await lab.desk_call("100", "101", then="talk", variables={"HOLD": 2}))
    for call in answered:
        await lab.wait_call_ended(call, timeout=90)
    await lab.wait_pbx_idle(30)
    return kinds


def mine(report: dict[str, Any], prefix: str) -> dict[str, dict[str, Any]]:
    return {
        e["number_as_received"]: e
        for e in report["missed"]
        if e["number_as_received"].startswith(prefix)
    }


async def wait_filled(dsn: str) -> asyncpg.Record:
    async def filled() -> bool:
        rows = await fetch(dsn, "SELECT filled_by FROM listener_gaps")
        return bool(rows) and all(r["filled_by"] not in ("pending", "failed") for r in rows)

    await until(filled, timeout=60, interval=0.3, what="the gap to be filled")
    [gap] = await fetch(dsn, "SELECT * FROM listener_gaps")
    return gap


# The PBX's records as reconciliation reads them: cel_pgsql into PostgreSQL, and FreePBX's
# cel_odbc into MariaDB (its eventextra column stays empty: FreePBX ships no alias for it).
MYSQL_CDR_DSN = os.environ.get("CALLBACK_DESK_LAB_MYSQL", "mysql://root@127.0.0.1:3306") + (
    "/cbd_lab_cdr"
)
SOURCES = {
    "cel-postgresql": {"source": "postgresql", "dsn": CDR_DSN},
    "cel-mariadb": {"source": "mysql", "dsn": MYSQL_CDR_DSN},
}


async def test_calls_placed_while_stopped_are_reconciled_into_the_same_report(
    lab: Lab, store: Store, db_dsn: str, second_db: str, third_db: str
) -> None:
    prefix = "21255577"
    reference_dsn = second_db  # the listener that never stopped
    under_test = {"cel-postgresql": db_dsn, "cel-mariadb": third_db}
    stores = {"cel-postgresql": store}
    stores["cel-mariadb"] = await Store.open(listener_settings(third_db).database)
    reference_store = await Store.open(listener_settings(reference_dsn).database)
    settings = {
        name: reconciling(dsn, "cel", name, **SOURCES[name]) for name, dsn in under_test.items()
    }
    try:
        reference = Listener(listener_settings(reference_dsn), reference_store)
        async with running(reference):
            # First run: each logs in and beats its heart once; nothing to reconcile yet.
            for name, dsn in under_test.items():
                first = Listener(settings[name], stores[name], watch(settings[name], stores[name]))
                async with running(first):
                    await until(
                        lambda d=dsn: _has_heartbeat(d), timeout=15, what="a first heartbeat"
                    )
            kinds = await place_every_kind(lab, prefix)
            ref = Pbx(lab, reference_dsn, reference)
            await until(
                lambda: _count(reference_dsn, prefix, 9), timeout=60, what="the reference rows"
            )
            gaps: dict[str, asyncpg.Record] = {}
            for name, dsn in under_test.items():
                second = Listener(settings[name], stores[name], watch(settings[name], stores[name]))
                async with running(second):
                    gaps[name] = await wait_filled(dsn)
        expected = mine(await ref.report(), prefix)
        reports = {
            name: mine(await Pbx(lab, dsn, reference).report(), prefix)
            for name, dsn in under_test.items()
        }
    finally:
        await reference_store.close()
        await stores["cel-mariadb"].close()

    voicemail_left = next(n for n, k in kinds.items() if k == "voicemail")
    greeting = next(n for n, k in kinds.items() if k == "greeting")
    for name, got in reports.items():
        gap = gaps[name]
        assert (gap["source"], gap["filled_by"]) == ("startup", "cel"), name
        assert gap["rows_added"] >= 9, (name, gap)
        # The same callers, with the same facts, as the listener that ran throughout ...
        assert set(got) - set(expected) == {voicemail_left}, (name, sorted(got), sorted(expected))
        for number, entry in expected.items():
            for key in ("name", "calls", "callable", "did", "reached_voicemail", "status"):
                assert got[number][key] == entry[key], (name, kinds[number], key, got[number])
            if kinds[number] == "greeting":
                continue
            reason = entry["reason"]
            if name == "cel-mariadb" and kinds[number] == "ringgroup_nobody":
                # Without CEL's extra (the dial status) a ring-out reads as a hang-up.
                reason = "hangup_while_ringing"
            assert got[number]["reason"] == reason, (name, kinds[number], got[number])
        # ... except that CEL cannot tell whether a voicemail was left: such callers are
        # listed, and say so, rather than lost.
        assert got[voicemail_left]["reason"] == "reconciled_voicemail_unknown"
        assert got[greeting]["reason"] == "reconciled_voicemail_unknown"
        rows = {
            r["number"]: r
            for r in await fetch(
                under_test[name],
                "SELECT * FROM calls WHERE number LIKE $1 OR number = '101'",
                prefix + "%",
            )
        }
        assert {n: (r["direction"], r["outcome"]) for n, r in rows.items()} == {
            n: _expected_row(k) for n, k in kinds.items()
        }, name
        assert {r["gap_id"] for r in rows.values()} == {gap["id"]}, name


def _expected_row(kind: str) -> tuple[str, str]:
    if kind == "outbound":
        return ("outbound", "answered")
    if kind in ("answered", "ringgroup_answered"):
        return ("inbound", "answered")
    return ("inbound", "missed")


async def _has_heartbeat(dsn: str) -> bool:
    return bool(await fetch(dsn, "SELECT 1 FROM listener_heartbeats"))


async def _count(dsn: str, prefix: str, n: int) -> bool:
    rows = await fetch(dsn, "SELECT 1 FROM calls WHERE number LIKE $1", prefix + "%")
    return len(rows) >= n
