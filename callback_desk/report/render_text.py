"""The terminal table: one row per caller, most urgent first, then the week in a picture.

Caller names may carry terminal escape sequences (``ESC[2J``) or newlines: every control or
format character is replaced before it reaches the terminal.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from callback_desk.core.shown import line_of
from callback_desk.report import heatmap
from callback_desk.report.model import (
    GAP_SOURCE,
    Report,
    ReportCaller,
    WeekStats,
    count,
    headline,
    how,
    number_shown,
)

_NAME_WIDTH = 24
_LINE_WIDTH = 22


def clean(value: str) -> str:
    """Printable text only: control/format characters become U+FFFD, whitespace a space."""
    if value.isascii() and value.isprintable():
        return value  # the common case, and a report may hold tens of thousands of cells
    out = []
    for ch in value:
        category = unicodedata.category(ch)
        if ch in "\t\n\r\v\f":
            out.append(" ")
        elif category in ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"):
            out.append("\ufffd")
        else:
            out.append(ch)
    return "".join(out)


def width(value: str) -> int:
    """Terminal columns: East Asian wide characters take two, combining marks none."""
    if value.isascii():
        return len(value)
    total = 0
    for ch in value:
        if unicodedata.combining(ch):
            continue
        total += 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1
    return total


def fit(value: str, columns: int) -> str:
    """Truncate with an ellipsis and pad to exactly ``columns`` terminal columns."""
    value = clean(value)
    if width(value) > columns:
        while value and width(value) > columns - 1:
            value = value[:-1]
        value += "…"
    return value + " " * (columns - width(value))


def when(moment: datetime, tz: ZoneInfo) -> str:
    return moment.astimezone(tz).strftime("%a %d %b %H:%M")


def duration(span: timedelta) -> str:
    minutes = int(span.total_seconds() // 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes:02d} min"
    return f"{hours // 24} days {hours % 24} h"


def _row(c: ReportCaller, report: Report) -> list[str]:
    row = [
        number_shown(c, report.country),
        c.name or "",
        str(c.calls),
        "new" if c.new else "",
        when(c.first_at, report.tz),
        when(c.last_at, report.tz),
        "yes" if c.reached_voicemail else "",
        line_of(c),
        str(c.attempts) if c.attempts else "",
    ]
    if report.include_returned:
        row.append(how(c.returned_how))
    return row


def table(callers: Sequence[ReportCaller], report: Report) -> str:
    headers = ["Number", "Name", "Calls", "New", "First", "Last", "Greeting", "Line", "Tries"]
    if report.include_returned:
        headers.append("Status")
    rows = [_row(c, report) for c in callers]
    limits = {1: _NAME_WIDTH, 7: _LINE_WIDTH}
    widths = [
        min(limits.get(i, 10**6), max([width(clean(h))] + [width(clean(r[i])) for r in rows]))
        for i, h in enumerate(headers)
    ]
    out = []
    for values in [headers, *rows]:
        out.append("  ".join(fit(v, w) for v, w in zip(values, widths, strict=True)).rstrip())
    return "\n".join(out)


def week_sentences(week: WeekStats) -> tuple[str, ...]:
    """The week in four sentences: the one wording of every format (text, HTML, email)."""
    share = week.share_returned_24h
    median = week.median_to_callback
    return (
        f"The last {count((week.until - week.since).days, 'day')}: "
        f"{count(week.missed_calls, 'missed call')} from {count(week.callers, 'caller')}.",
        "Returned within 24 h: "
        + (
            f"{share:.0%} ({week.returned_within_24h} of {week.judged})."
            if share is not None
            else "none to judge yet."
        ),
        "Median time to callback: "
        + (f"{duration(median)}." if median is not None else "none yet."),
        f"Callers who never got through: {week.never_got_through}.",
    )


def week_text(week: WeekStats, tz: ZoneInfo) -> str:
    return "\n".join(
        [
            *week_sentences(week),
            "",
            f"Missed calls by weekday and hour ({tz.key}):",
            heatmap.text(week.grid),
        ]
    )


def span(report: Report) -> str:
    """What the list covers, in words: ``missed between Mon 10 Nov 08:00 and Mon 24 Nov 08:00;
    new since Fri 21 Nov 18:00``."""
    since, until = when(report.since, report.tz), when(report.until, report.tz)
    return f"missed between {since} and {until}; new since {when(report.new_since, report.tz)}"


def render(report: Report) -> str:
    title = headline(report)
    if report.covers:
        title += f" (lines {', '.join(clean(c) for c in report.covers)})"
    parts = [f"{title} — {span(report)}", ""]
    if report.callers:
        parts.append(table(report.callers, report))
    else:
        parts.append("Nobody is waiting for a callback.")
    if report.gaps:
        parts += ["", gaps_text(report)]
    if report.week is not None:
        parts += ["", week_text(report.week, report.tz)]
    return "\n".join(parts) + "\n"


def gap_sentences(report: Report) -> tuple[str, ...]:
    """When nobody listened to the PBX, and whether its own records filled the hole."""
    out = []
    for g in report.gaps:
        period = f"{when(g.started_at, report.tz)} to {when(g.ended_at, report.tz)}"
        if g.filled:
            filled = f"read back from the PBX's {g.filled_by.upper()}: {g.rows_added} calls added"
        elif g.filled_by == "pending":
            filled = "being read back from the PBX's records"
        else:
            filled = "NOT read back: callers of this time may be missing (check the PBX's call log)"
        out.append(f"{period} ({GAP_SOURCE.get(g.source, g.source)}) — {filled}")
    return tuple(out)


def gaps_text(report: Report) -> str:
    return "\n".join(["Not listening:", *(f"  {line}" for line in gap_sentences(report))])
