"""The one definition of "awaiting a callback" and the one line scope, on a real PostgreSQL."""

from __future__ import annotations

import io
import json
import re
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from agi.queries import Callbacks
from callback_desk.core.awaiting import awaiting
from callback_desk.core.model import CallRecord, Disposition, Outcome, Reason
from callback_desk.core.store import Store
from callback_desk.report.command import ReportOptions, run
from fakes.settings import make_settings
from tests.report_support import call

NY = ZoneInfo("America/New_York")
DATA = Path(__file__).parents[1] / "data"
TUESDAY = datetime(2026, 12, 1, 8, 0, tzinfo=NY)


def ny(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=NY)


async def morning_report(dsn: str, now: datetime) -> dict[str, object]:
    out = io.StringIO()
    settings = make_settings(dsn, pbx={"timezone": "America/New_York", "country": "US"})
    assert await run(settings, ReportOptions(format="json"), out, now) == 0
    doc: dict[str, object] = json.loads(out.getvalue())
    return doc


def numbers(doc: dict[str, object]) -> list[str]:
    return [e["number"] for e in doc["missed"]]  # type: ignore[attr-defined]


async def test_call_missed_at_midday_is_on_next_mornings_report_until_returned(
    store: Store, db_dsn: str
) -> None:
    # Friday 13:13, nobody calls back that afternoon.
    await store.record_call("pbx", call("fri", ny(27, 13, 13), "2125550123"))
    monday = await morning_report(db_dsn, ny(30, 8, 0))
    assert numbers(monday) == ["+12125550123"]
    # Missed before Friday's closing: listed, not new.
    assert monday["missed"][0]["new_calls"] == 0  # type: ignore[index]
    assert monday["new_since"] == "2026-11-27T18:00:00-05:00"
    # Monday 09:00 the desk tries once; nobody answers. Still there on Tuesday morning.
    call_id = await store.pool.fetchval("SELECT id FROM calls WHERE linkedid = 'fri'")
    await store.pool.execute(
        "INSERT INTO callback_attempts (call_id, extension, started_at, dial_status)"
        " VALUES ($1, '100', $2, 'NOANSWER')",
        call_id,
        ny(30, 9, 0),
    )
    tuesday = await morning_report(db_dsn, TUESDAY)
    assert numbers(tuesday) == ["+12125550123"]
    assert tuesday["missed"][0]["attempts"] == 1  # type: ignore[index]
    # Tuesday 09:00 the desk calls back and they answer: the call leaves the list.
    returned = call("cb", TUESDAY + timedelta(hours=1), "+12125550123", direction="outbound")
    answered = replace(returned, outcome=Outcome.ANSWERED, reason=Reason.ANSWERED)
    await store.record_call("pbx", answered)
    assert numbers(await morning_report(db_dsn, TUESDAY + timedelta(hours=2))) == []


async def test_new_callers_are_marked_and_counted_in_the_subject(store: Store, db_dsn: str) -> None:
    from callback_desk.report.mail import subject
    from callback_desk.report.model import Report
    from callback_desk.report.query import callers, reading

    await store.record_call("pbx", call("old", ny(23, 12, 0), "2125550123"))
    await store.record_call("pbx", call("new", ny(23, 19, 0), "3125550188"))
    async with reading(store) as conn:
        found = await callers(conn, ny(10, 8), ny(24, 8), ny(23, 18))
    assert [(c.number_key, c.new_calls) for c in found] == [
        ("+13125550188", 1),
        ("+12125550123", 0),
    ]
    report = Report(ny(10, 8), ny(24, 8), ny(23, 18), ny(24, 8), NY, "US", tuple(found), None)
    assert subject(report) == "2 callers to call back (1 new) — Tue 8:00"


# Each way a call is returned, as the missed_calls view defines it; awaiting() must agree.
async def _resolve(store: Store, how: str, call_id: int, at: datetime) -> None:
    pool = store.pool
    if how == "answered_later":
        later = call("later", at, "2125550123", outcome="answered", reason="answered")
        await store.record_call("pbx", later)
    elif how == "voicemail_later":
        later = call("later", at, "2125550123", outcome="voicemail", reason="voicemail_left")
        await store.record_call("pbx", later)
    elif how == "callback_answered":
        await pool.execute(
            "INSERT INTO callback_attempts (call_id, extension, started_at, dial_status)"
            " VALUES ($1, '100', $2, 'ANSWER')",
            call_id,
            at,
        )
    elif how == "callback_busy":
        await pool.execute(
            "INSERT INTO callback_attempts (call_id, extension, started_at, dial_status)"
            " VALUES ($1, '100', $2, 'BUSY')",
            call_id,
            at,
        )
    elif how in ("handled", "never", "handled_before"):
        disposition = Disposition.HANDLED if how.startswith("handled") else Disposition.NEVER
        await pool.execute(
            "INSERT INTO caller_dispositions (call_id, number_key, disposition, decided_at)"
            " VALUES ($1, '+12125550123', $2, $3)",
            call_id,
            disposition.value,
            at,
        )


@pytest.mark.parametrize(
    ("how", "minutes", "returned"),
    [
        ("answered_later", 30, True),
        ("answered_later", -30, False),  # an earlier contact returns nothing
        ("voicemail_later", 30, True),
        ("callback_answered", 30, True),
        ("callback_busy", 30, False),
        ("handled", 30, True),
        ("handled_before", -30, False),
        ("never", -600, True),  # 'never' holds whenever it was said
    ],
)
async def test_awaiting_agrees_with_the_view(
    store: Store, how: str, minutes: int, returned: bool
) -> None:
    t = ny(23, 12)
    await store.record_call("pbx", call("m", t, "2125550123"))
    call_id = await store.pool.fetchval("SELECT id FROM calls WHERE linkedid = 'm'")
    await _resolve(store, how, call_id, t + timedelta(minutes=minutes))
    view = await store.pool.fetchval("SELECT returned_at FROM missed_calls WHERE id = $1", call_id)
    found = await awaiting(store.pool, scope=("*",), now=ny(24, 8), lookback=timedelta(days=14))
    assert (view is not None) is returned
    assert (found == []) is returned


async def test_withheld_calls_are_resolved_one_by_one(store: Store) -> None:
    anon = {"number_key": None, "callable": False}
    await store.record_call("pbx", call("a1", ny(23, 12), "anonymous", **anon))
    await store.record_call("pbx", call("a2", ny(23, 13), "anonymous", **anon))
    first = await store.pool.fetchval("SELECT id FROM calls WHERE linkedid = 'a1'")
    await store.pool.execute(
        "INSERT INTO caller_dispositions (call_id, disposition) VALUES ($1, 'handled')", first
    )
    [caller] = await awaiting(store.pool, scope=("*",), now=ny(24, 8))
    assert (caller.number, caller.calls, caller.callable) == ("anonymous", 1, False)
    # The desk phone cannot dial a withheld number: its list leaves them out.
    assert await awaiting(store.pool, scope=("*",), now=ny(24, 8), callable_only=True) == []


async def test_lookback_is_the_one_setting(store: Store) -> None:
    await store.record_call("pbx", call("old", ny(1, 12), "2125550123"))
    await store.record_call("pbx", call("new", ny(20, 12), "3125550188"))
    now = ny(24, 8)
    assert [c.number_key for c in await awaiting(store.pool, scope=("*",), now=now)] == [
        "+13125550188"
    ]
    wide = await awaiting(store.pool, scope=("*",), now=now, lookback=timedelta(days=30))
    assert len(wide) == 2
    assert await awaiting(store.pool, scope=(), now=now) == []  # an empty scope hears nothing
    settings = make_settings(awaiting={"lookback_days": 30})
    assert settings.awaiting.lookback_days == 30


# -- one line scope -------------------------------------------------------------------------

TRACE_DIAL = re.compile(r"^DialString: (.+?)\r?$", re.MULTILINE)


def recorded_dial_strings() -> set[str]:
    found: set[str] = set()
    for path in DATA.glob("*.ami"):
        found.update(TRACE_DIAL.findall(path.read_text("utf-8", errors="replace")))
    return found


# Shapes FreePBX produces for one desk beyond what the lab's plain dialplan records: queue
# members and ring groups through Local channels, follow-me, a contact-specific PJSIP dial.
FREEPBX_SHAPES = {
    "PJSIP/100": "100",
    "PJSIP/100/sip:100@192.0.2.10:5060": "100",
    "Local/100@from-queue/n": "100",
    "Local/100@from-internal": "100",
    "100@ext-local/n": "100",
    "Local/FMGL-100#@from-internal": "100",
    "Local/FMPR-100@from-internal/n": "100",
    "100": "100",
}


async def test_line_extension_normalises_recorded_and_freepbx_dial_strings(store: Store) -> None:
    recorded = recorded_dial_strings()
    # The lab's traces: desks by endpoint and AOR, and the carrier for an outbound call.
    assert {"100@phones", "PJSIP/100@phones", "PJSIP/101@phones", "101@phones"} <= recorded
    expected = {d: re.sub(r"^(?:PJSIP/)?([^@]+)@.*$", r"\1", d) for d in recorded}
    expected.update(FREEPBX_SHAPES)
    got = {
        r["dial"]: r["ext"]
        for r in await store.pool.fetch(
            "SELECT d AS dial, line_extension(d) AS ext FROM unnest($1::text[]) AS d",
            list(expected),
        )
    }
    assert got == expected
    # The stored column: distinct, in the order the call rang them.
    await store.record_call(
        "pbx", call("q", ny(23, 12), rang=("Local/101@from-queue/n", "PJSIP/100", "101@phones"))
    )
    assert await store.pool.fetchval("SELECT extensions FROM calls") == ["101", "100"]


async def test_a_desk_hears_a_call_a_queue_rang_on_it(store: Store) -> None:
    queue_call: CallRecord = call(
        "q", ny(23, 12), did="2002", rang=("Local/100@from-queue/n", "Local/101@from-queue/n")
    )
    await store.record_call("pbx", queue_call)
    callbacks = Callbacks(store.pool)
    now, since = ny(24, 8), ny(10, 8)
    assert [w.number_key for w in await callbacks.waiting(("100",), since, now)] == ["+12125550123"]
    assert await callbacks.waiting(("102",), since, now) == []
    call_id = await store.pool.fetchval("SELECT id FROM calls")
    missed = await callbacks.missed_call(call_id)
    assert missed is not None
    assert missed.extensions == ("100", "101")
    assert missed.heard_by(("101",)) and missed.heard_by(("2002",))
    assert not missed.heard_by(("102", "2000"))
