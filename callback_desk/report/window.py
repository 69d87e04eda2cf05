"""The report's default time window, in wall-clock time of the practice.

Closing times are built from local dates and ``time`` values, never by subtracting 24-hour
``timedelta``s, so a window that spans a daylight-saving change still starts at 18:00 local.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from callback_desk.report.settings import BusinessHours

# Enough to step over a long holiday season; more means the configuration is wrong.
_MAX_LOOKBACK_DAYS = 60


def previous_closing(now: datetime, hours: BusinessHours, tz: ZoneInfo) -> datetime:
    """Closing time of the last business day before ``now``'s local date."""
    day = now.astimezone(tz).date()
    for _ in range(_MAX_LOOKBACK_DAYS):
        day -= timedelta(days=1)
        if hours.is_business_day(day):
            return datetime.combine(day, hours.closes, tzinfo=tz)
    # Every day for two months is a holiday: fall back to a plain day rather than fail.
    return datetime.combine(now.astimezone(tz).date() - timedelta(days=1), hours.closes, tzinfo=tz)
