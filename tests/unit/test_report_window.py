"""The default window: since the previous business day's closing, in practice wall-clock time."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from callback_desk.core.exceptions import ConfigError
from callback_desk.report.command import ReportOptions, window
from callback_desk.report.settings import BusinessHours, ReportSettings, report_settings
from callback_desk.report.window import previous_closing
from fakes.settings import make_settings

NY = ZoneInfo("America/New_York")
WEEKDAYS = BusinessHours()


def ny(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=NY)


@pytest.mark.parametrize(
    ("now", "closing"),
    [
        (ny(2026, 11, 24, 8, 0), ny(2026, 11, 23, 18, 0)),  # Tuesday -> Monday
        (ny(2026, 11, 23, 8, 0), ny(2026, 11, 20, 18, 0)),  # Monday -> Friday
        (ny(2026, 11, 22, 12, 0), ny(2026, 11, 20, 18, 0)),  # Sunday -> Friday
        (ny(2026, 11, 24, 23, 59), ny(2026, 11, 23, 18, 0)),  # late evening: still yesterday
        (ny(2026, 11, 24, 0, 1), ny(2026, 11, 23, 18, 0)),
    ],
)
def test_previous_closing_skips_weekends(now: datetime, closing: datetime) -> None:
    assert previous_closing(now, WEEKDAYS, NY) == closing


def test_previous_closing_uses_local_date_of_a_utc_now() -> None:
    # 03:00 UTC on Tuesday is still Monday 22:00 in New York: the closing before is Friday's.
    now = datetime(2026, 11, 24, 3, 0, tzinfo=ZoneInfo("UTC"))
    assert previous_closing(now, WEEKDAYS, NY) == ny(2026, 11, 20, 18, 0)


def test_window_across_spring_forward_starts_at_local_closing() -> None:
    # Monday 2026-03-09 08:00 EDT; Friday 2026-03-06 closed at 18:00 EST (clocks moved Sunday).
    closing = previous_closing(ny(2026, 3, 9, 8, 0), WEEKDAYS, NY)
    assert closing.isoformat() == "2026-03-06T18:00:00-05:00"
    assert ny(2026, 3, 9, 8, 0).isoformat() == "2026-03-09T08:00:00-04:00"
    # Real elapsed time is an hour short of the wall-clock 62 hours.
    assert ny(2026, 3, 9, 8, 0).timestamp() - closing.timestamp() == 61 * 3600


def test_window_across_fall_back_starts_at_local_closing() -> None:
    closing = previous_closing(ny(2026, 11, 2, 8, 0), WEEKDAYS, NY)
    assert closing.isoformat() == "2026-10-30T18:00:00-04:00"
    assert ny(2026, 11, 2, 8, 0).timestamp() - closing.timestamp() == 63 * 3600


def test_holidays_and_custom_days_are_skipped() -> None:
    hours = BusinessHours(
        days=frozenset({0, 1, 2, 3, 5}),
        closes=time(13, 30),
        holidays=frozenset({date(2026, 11, 26)}),
    )
    # Friday after Thanksgiving: Thursday is a holiday, Wednesday closed at 13:30.
    assert previous_closing(ny(2026, 11, 27, 9, 0), hours, NY) == ny(2026, 11, 25, 13, 30)
    # Sunday: Saturday is a working day here.
    assert previous_closing(ny(2026, 11, 29, 9, 0), hours, NY) == ny(2026, 11, 28, 13, 30)


LOOKBACK = timedelta(days=14)


def _rs(**report: object) -> ReportSettings:
    return report_settings(make_settings(pbx={"timezone": "America/New_York"}, report=dict(report)))


def test_report_window_defaults_and_naive_bounds_are_practice_time() -> None:
    rs = _rs(closes="17:00")
    now = ny(2026, 3, 9, 8, 0)
    win = window(ReportOptions(), rs, now, LOOKBACK)
    # The look-back ends now; what came in since Friday's closing is new.
    assert (win.since, win.until) == (now - LOOKBACK, now)
    assert win.new_since.isoformat() == "2026-03-06T17:00:00-05:00"
    naive = window(
        ReportOptions(since=datetime(2026, 3, 7, 23, 0), until=datetime(2026, 3, 8, 12, 0)),
        rs,
        now,
        LOOKBACK,
    )
    assert naive.since.utcoffset() == timedelta(hours=-5)
    assert naive.until.utcoffset() == timedelta(hours=-4)
    with pytest.raises(ConfigError, match="must be before --until"):
        window(ReportOptions(since=now), rs, now, LOOKBACK)
    # --until alone moves the whole window, and what counts as new, with it.
    moved = window(ReportOptions(until=datetime(2026, 3, 6, 12, 0)), rs, now, LOOKBACK)
    assert moved.since == ny(2026, 2, 20, 12, 0) and moved.new_since == ny(2026, 3, 5, 17, 0)


def test_report_timezone_can_differ_from_the_pbx() -> None:
    rs = _rs(timezone="Europe/Berlin")
    now = datetime(2026, 11, 24, 8, 0, tzinfo=ZoneInfo("Europe/Berlin"))
    assert window(ReportOptions(), rs, now, LOOKBACK).new_since.isoformat() == (
        "2026-11-23T18:00:00+01:00"
    )
