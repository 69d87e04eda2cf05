from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from callback_desk.core.config import DatabaseSettings, Secret
from callback_desk.core.exceptions import StoreUnavailable
from callback_desk.core.model import CallRecord, Direction, Outcome, Reason
from callback_desk.core.store import Store
from callback_desk.report import missed_json
from callback_desk.report.model import ReportCaller
from callback_desk.report.query import callers, reading

T0 = datetime(2026, 11, 26, 18, 0, tzinfo=UTC)
WINDOW = (T0 - timedelta(days=1), T0 + timedelta(days=1))


async def waiting(store: Store) -> list[ReportCaller]:
    """The callers the report lists as awaiting a callback in WINDOW."""
    async with reading(store) as conn:
        return await callers(conn, *WINDOW, new_since=WINDOW[0])


def call(linkedid: str, minutes: int = 0, **changes) -> CallRecord:
    base = CallRecord(
        linkedid=linkedid,
        direction=Direction.INBOUND,
        outcome=Outcome.MISSED,
        reason=Reason.HANGUP_WHILE_RINGING,
        number="2125550123",
        name="Caller",
        number_key="+12125550123",
        callable=True,
        did="2000",
        rang=("100@phones",),
        started_at=T0 + timedelta(minutes=minutes),
        ended_at=T0 + timedelta(minutes=minutes, seconds=20),
        ring_seconds=12.5,
        reached_voicemail=False,
    )
    return replace(base, **changes)


async def test_record_is_idempotent_per_pbx_and_linkedid(store: Store) -> None:
    assert await store.record_call("pbx", call("1.1")) is True
    assert await store.record_call("pbx", call("1.1", reason=Reason.NO_ANSWER)) is False
    assert await store.record_call("other-pbx", call("1.1")) is True
    async with store.pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM calls") == 2


async def test_hostile_caller_id_is_stored_verbatim(store: Store) -> None:
    name = 'Robert\'); DROP TABLE calls;-- "x" <b>&amp; Ärger 日本'
    await store.record_call(
        "pbx", call("1.2", name=name, number="'; SELECT 1;--", number_key=None, callable=False)
    )
    callers = await waiting(store)
    assert [c.name for c in callers] == [name]
    assert callers[0].number == "'; SELECT 1;--"


async def test_missed_callers_groups_by_normalised_number(store: Store) -> None:
    await store.record_call("pbx", call("1.1", 0, number="2125550123"))
    await store.record_call("pbx", call("1.2", 30, number="+12125550123", reached_voicemail=True))
    await store.record_call("pbx", call("1.3", 10, number="3125550188", number_key="+13125550188"))
    callers = await waiting(store)
    assert [(c.number_key, c.calls) for c in callers] == [("+12125550123", 2), ("+13125550188", 1)]
    first = callers[0]
    assert first.first_at == T0 and first.last_at == T0 + timedelta(minutes=30)
    assert first.reached_voicemail is True  # of the last call
    doc = missed_json(callers, T0.tzinfo)  # type: ignore[arg-type]
    assert doc["missed"][0]["number"] == "+12125550123"
    assert doc["missed"][0]["last_at"] == "2026-11-26T18:30:00+00:00"


@pytest.mark.parametrize(
    ("later", "resolved"),
    [
        ({"outcome": "answered", "reason": "answered"}, True),
        ({"outcome": "voicemail", "reason": "voicemail_left"}, True),
        ({"direction": "outbound", "outcome": "answered", "reason": "answered"}, True),
        ({"outcome": "missed"}, False),
        ({"outcome": "answered", "number_key": "+19998887777"}, False),
    ],
)
async def test_later_contact_resolves_missed_call(store: Store, later, resolved: bool) -> None:
    await store.record_call("pbx", call("1.1", 0))
    await store.record_call("pbx", call("1.2", 5, **later))
    keys = [c.number_key for c in await waiting(store)]
    assert ("+12125550123" not in keys) is resolved


async def test_earlier_contact_does_not_resolve(store: Store) -> None:
    await store.record_call("pbx", call("1.0", -5, outcome="answered", reason="answered"))
    await store.record_call("pbx", call("1.1", 0))
    assert len(await waiting(store)) == 1


async def test_resolution_does_not_depend_on_write_order(store: Store) -> None:
    # A reconciled, older missed call written after its resolving call is still resolved.
    await store.record_call("pbx", call("1.2", 5, outcome="answered", reason="answered"))
    await store.record_call("pbx", call("1.1", 0))
    assert await waiting(store) == []


async def test_anonymous_callers_are_listed_not_callable(store: Store) -> None:
    await store.record_call("pbx", call("1.1", number="anonymous", number_key=None, callable=False))
    await store.record_call(
        "pbx",
        call(
            "1.2",
            3,
            number="anonymous",
            number_key=None,
            callable=False,
            outcome="answered",
            reason=Reason.ANSWERED,
        ),
    )
    [caller] = await waiting(store)
    assert caller.callable is False and caller.number == "anonymous"


async def test_purge_removes_old_calls(store: Store) -> None:
    await store.record_call("pbx", call("old", -60 * 24 * 100))
    await store.record_call("pbx", call("new", 0))
    assert await store.purge(T0 - timedelta(days=90)) == 1
    async with store.pool.acquire() as conn:
        assert await conn.fetchval("SELECT array_agg(linkedid) FROM calls") == ["new"]


async def test_unreachable_database_is_store_unavailable() -> None:
    settings = DatabaseSettings(
        dsn=Secret("postgresql://nobody@127.0.0.1:9/none"), connect_timeout=2
    )
    store = await Store.open(settings)
    try:
        with pytest.raises(
            StoreUnavailable, match=r"cannot connect to the database at 127\.0\.0\.1:9"
        ):
            await store.record_call("pbx", call("1.1"))
    finally:
        await store.close()


async def test_schema_check_reports_missing_schema(empty_db_dsn: str) -> None:
    from callback_desk.core.exceptions import SchemaError

    store = await Store.open(DatabaseSettings(dsn=Secret(empty_db_dsn)))
    try:
        with pytest.raises(SchemaError, match="callback-desk migrate"):
            await store.check_schema()
        with pytest.raises(SchemaError, match="callback-desk migrate"):
            await store.record_call("pbx", call("1.1"))
    finally:
        await store.close()


async def test_ring_seconds_and_times_round_trip(store: Store, db_dsn: str) -> None:
    await store.record_call("pbx", call("1.1"))
    conn = await asyncpg.connect(db_dsn)
    try:
        row = await conn.fetchrow("SELECT ring_seconds, rang, started_at FROM calls")
    finally:
        await conn.close()
    assert row["ring_seconds"] == 12.5 and row["rang"] == ["100@phones"]
    assert row["started_at"] == T0


async def test_stale_open_attempts_are_closed_as_unknown(store: Store) -> None:
    await store.record_call("pbx", call("1.1"))
    async with store.pool.acquire() as conn:
        call_id = await conn.fetchval("SELECT id FROM calls")
        await conn.execute(
            "INSERT INTO callback_attempts (call_id, extension, started_at) VALUES "
            "($1, '100', $2), ($1, '100', $3)",
            call_id,
            T0 - timedelta(days=2),
            T0,
        )
        assert await store.close_stale_attempts(T0 - timedelta(days=1)) == 1
        rows = await conn.fetch("SELECT dial_status FROM callback_attempts ORDER BY started_at")
    assert [r["dial_status"] for r in rows] == ["UNKNOWN", None]


async def test_a_query_out_of_time_is_a_timeout_not_an_outage(store: Store) -> None:
    from callback_desk.core.dberrors import mapped_errors
    from callback_desk.core.exceptions import StoreTimeout

    async with store.pool.acquire() as conn:
        await conn.execute("SET statement_timeout = 50")
        with pytest.raises(StoreTimeout, match="did not finish in time"):
            async with mapped_errors("reading the report"):
                await conn.execute("SELECT pg_sleep(5)")
        await conn.execute("RESET statement_timeout")


async def test_connections_run_without_jit(store: Store) -> None:
    assert await store.pool.fetchval("SHOW jit") == "off"


async def test_database_errors_carry_no_caller_values(store: Store) -> None:
    # A row the schema refuses: PostgreSQL's DETAIL quotes it whole ("Failing row contains").
    from callback_desk.core.exceptions import StoreError

    bad = call("1.9", number="2125550199", name="Secret Name", reason="not_a_reason")
    with pytest.raises(StoreError) as caught:
        await store.record_call("pbx", bad)
    shown = str(caught.value)
    assert "calls_reason_check" in shown and "23514" in shown
    assert "2125550199" not in shown and "Secret Name" not in shown
    assert caught.value.__cause__ is None and caught.value.__suppress_context__
