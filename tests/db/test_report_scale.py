"""A night with 10,000 callers: every format lists every caller correctly."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from callback_desk.core.store import Store
from callback_desk.report.command import ReportOptions, run
from fakes.settings import make_settings

# The component under test connects with cbd_report's rights only (sql/grants.sql).
pytestmark = pytest.mark.db_role("cbd_report")

NY = ZoneInfo("America/New_York")
NOW = datetime(2026, 11, 24, 8, 0, tzinfo=NY)
CALLERS = 10_000


async def test_ten_thousand_callers(store: Store, db_dsn: str) -> None:
    start = datetime(2026, 11, 23, 18, 30, tzinfo=NY)
    rows = []
    for i in range(CALLERS):
        at = start + timedelta(seconds=3 * i)
        number = f"+1212{5_000_000 + i:07d}"
        tries = 1 + (i % 3 == 0)  # every third caller tried twice
        for attempt in range(tries):
            moment = at + timedelta(seconds=attempt)
            rows.append(
                (
                    "pbx",
                    f"{i}.{attempt}",
                    "inbound",
                    "missed",
                    "hangup_while_ringing",
                    number,
                    f"Caller <{i}>",
                    number,
                    True,
                    "2000",
                    ["PJSIP/100@phones"],
                    moment,
                    moment + timedelta(seconds=15),
                    10.0,
                    False,
                )
            )
    columns = [
        "pbx", "linkedid", "direction", "outcome", "reason", "number", "name", "number_key",
        "callable", "did", "rang", "started_at", "ended_at", "ring_seconds", "reached_voicemail",
    ]  # fmt: skip
    async with store.pool.acquire() as conn:
        await conn.copy_records_to_table("calls", records=rows, columns=columns)
        await conn.execute("ANALYZE calls")
    settings = make_settings(db_dsn, pbx={"timezone": "America/New_York"})

    # Correctness at scale only; speed belongs in bench/ (see docs/benchmarks.md).
    outputs = {}
    for fmt in ("json", "text", "csv", "html"):
        out = io.StringIO()
        await run(settings, ReportOptions(format=fmt), out, NOW)
        outputs[fmt] = out.getvalue()

    missed = json.loads(outputs["json"])["missed"]
    assert len(missed) == CALLERS
    assert sum(e["calls"] for e in missed) == len(rows)
    last = [e["last_at"] for e in missed]
    assert last == sorted(last, reverse=True)  # JSON: most recent first
    rows_csv = list(csv.reader(io.StringIO(outputs["csv"])))
    calls_col = rows_csv[0].index("calls")
    assert rows_csv[1][calls_col] == "2" and rows_csv[-1][calls_col] == "1"  # urgent first
    assert outputs["text"].startswith(f"{CALLERS} callers to call back")
    assert len(list(csv.reader(io.StringIO(outputs["csv"])))) == CALLERS + 1
    assert outputs["html"].count("(212) ") == CALLERS
    assert "&lt;9999&gt;" in outputs["html"]
