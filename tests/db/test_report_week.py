"""The week in a picture: weekday x hour heat map (DST-correct) and the callback statistics."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from callback_desk.core.store import Store
from callback_desk.report import heatmap, query
from callback_desk.report.model import WeekStats
from callback_desk.report.render_text import week_text
from tests.report_support import call

# The component under test connects with cbd_report's rights only (sql/grants.sql).
pytestmark = pytest.mark.db_role("cbd_report")

NY = ZoneInfo("America/New_York")


async def week_of(
    store: Store, until: datetime, days: int, tz: ZoneInfo, covers: tuple[str, ...] = ()
) -> WeekStats:
    async with query.reading(store) as conn:
        return await query.week(conn, until, days, tz, covers)


SUNDAY = 6


async def test_heatmap_buckets_by_local_hour_across_spring_forward(store: Store) -> None:
    # 2026-03-08: 01:30 EST happens at 06:30 UTC; at 07:00 UTC clocks jump to 03:00 EDT.
    await store.record_call("pbx", call("s1", datetime(2026, 3, 8, 6, 30, tzinfo=UTC)))
    await store.record_call(
        "pbx", call("s2", datetime(2026, 3, 8, 7, 30, tzinfo=UTC), "3125550188")
    )
    week = await week_of(store, datetime(2026, 3, 9, 8, tzinfo=NY), 7, NY)
    assert week.grid[SUNDAY][1] == 1
    assert week.grid[SUNDAY][2] == 0  # 02:xx did not exist that night
    assert week.grid[SUNDAY][3] == 1
    assert week.missed_calls == 2


async def test_heatmap_counts_the_repeated_hour_twice_at_fall_back(store: Store) -> None:
    # 2026-11-01 01:30 EDT (05:30 UTC) and 01:30 EST (06:30 UTC): the same local hour.
    await store.record_call("pbx", call("f1", datetime(2026, 11, 1, 5, 30, tzinfo=UTC)))
    await store.record_call(
        "pbx", call("f2", datetime(2026, 11, 1, 6, 30, tzinfo=UTC), "3125550188")
    )
    # Saturday 23:30 EDT is 03:30 UTC on Sunday: local weekday, not UTC's.
    await store.record_call(
        "pbx", call("f3", datetime(2026, 11, 1, 3, 30, tzinfo=UTC), "7185550111")
    )
    week = await week_of(store, datetime(2026, 11, 2, 8, tzinfo=NY), 7, NY)
    assert week.grid[SUNDAY][1] == 2
    assert week.grid[5][23] == 1
    assert week.missed_calls == 3
    lines = heatmap.text(week.grid).splitlines()
    sunday = next(line for line in lines if line.startswith("Sun"))
    assert sunday[5 + 2 : 5 + 4] == "██" and sunday.endswith("|  2")
    saturday = next(line for line in lines if line.startswith("Sat"))
    assert saturday[5 + 46 : 5 + 48] == "▒▒"


async def test_week_statistics(store: Store) -> None:
    until = datetime(2026, 11, 27, 8, tzinfo=NY)
    t = until - timedelta(days=3)
    rec = store.record_call
    # 1: called back from the desk after 2 h (answered).
    await rec("pbx", call("1", t, "2125550101"))
    # 2: the practice's own outbound call reached them after 30 h.
    await rec("pbx", call("2", t, "2125550102"))
    await rec(
        "pbx",
        call("2b", t + timedelta(hours=30), "2125550102", direction="outbound", outcome="answered"),
    )
    # 3: nobody ever returned the call.
    await rec("pbx", call("3", t + timedelta(days=1), "2125550103"))
    # 4: called again an hour later and got through.
    await rec("pbx", call("4", t + timedelta(days=1), "2125550104"))
    await rec("pbx", call("4b", t + timedelta(days=1, hours=1), "2125550104", outcome="answered"))
    # 5: an hour ago: too recent to judge.
    await rec("pbx", call("5", until - timedelta(hours=1), "2125550105"))
    # 6: spam, marked 'never': not counted at all.
    await rec("pbx", call("6", t, "2125550106"))
    # 7: before the week.
    await rec("pbx", call("7", until - timedelta(days=8), "2125550107"))
    async with store.pool.acquire() as conn:
        first = await conn.fetchval("SELECT id FROM calls WHERE linkedid = '1'")
        await conn.execute(
            "INSERT INTO callback_attempts (call_id, extension, started_at, dial_status) VALUES"
            " ($1, '100', $2, 'NOANSWER'), ($1, '100', $3, 'ANSWER')",
            first,
            t + timedelta(hours=1),
            t + timedelta(hours=2),
        )
        await conn.execute(
            "INSERT INTO caller_dispositions (number_key, disposition)"
            " VALUES ('+12125550106', 'never')"
        )
    week = await week_of(store, until, 7, NY)
    assert week.callers == 5
    assert week.judged == 4
    assert week.returned_within_24h == 2  # callers 1 and 4
    assert week.share_returned_24h == 0.5
    assert week.median_to_callback == timedelta(hours=16)  # median of 2 h and 30 h
    assert week.never_got_through == 4  # everyone but caller 4
    assert week.missed_calls == 6
    text = week_text(week, NY)
    assert "Returned within 24 h: 50% (2 of 4)" in text
    assert "Median time to callback: 16 h 00 min" in text
    assert "Callers who never got through: 4" in text
    # One therapist's view: only calls to line 2001.
    await rec("pbx", call("8", t, "2125550108", did="2001", rang=("101@phones",)))
    mine = await week_of(store, until, 7, NY, covers=("2001",))
    assert (mine.callers, mine.missed_calls, mine.median_to_callback) == (1, 1, None)


def test_heat_levels_and_svg_cells() -> None:
    assert [heatmap.level(n, 8, 5) for n in (0, 1, 2, 4, 7, 8)] == [0, 1, 1, 2, 4, 4]
    assert heatmap.level(3, 0, 5) == 0
    grid = [[0] * 24 for _ in range(7)]
    grid[2][14] = 5
    svg = heatmap.svg(grid)
    assert svg.count("<rect") == 7 * 24
    assert "<title>Wed 14:00 5 missed</title>" in svg
    assert svg.count('fill="#08519c"') == 1
    table = heatmap.html_table(grid)
    assert table.count("<td") == 7 * 24 and table.count("background:#08519c") == 1
