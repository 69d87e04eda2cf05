"""JSON: ``{"missed": [...]}`` as the listener issue defined it, plus the report's fields.

Values are emitted as stored; ``number`` is E.164 when the caller can be called back, otherwise
the number as received. :func:`dumps` keeps non-ASCII text readable but escapes what could
deceive a person reading the output in a terminal or a log viewer: C0 and C1 controls
(U+0080-U+009F include CSI, which some terminals act on) and the bidirectional overrides,
embeddings, isolates and marks that reorder text on screen ("Trojan Source", CVE-2021-42574).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from callback_desk.core.shown import number_of
from callback_desk.core.typeshim import TYPE_CHECKING
from callback_desk.report.model import (
    Report,
    ReportCaller,
    WeekStats,
    e164,
)

if TYPE_CHECKING:
    from typing import Any

# C1 controls, the bidi marks (LRM, RLM, ALM), embeddings and overrides, isolates; plus the line
# and paragraph separators, which some JavaScript and log viewers treat as line breaks.
_DECEPTIVE = re.compile("[\u0080-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def dumps(value: Any) -> str:
    """JSON text with the deceptive characters above as ``\\uXXXX`` escapes (still the same
    JSON value: outside strings JSON is pure ASCII, so only string contents are touched)."""
    # No indent: json's C encoder runs only without one, and a report may list 15,000 callers
    # (3.6 s with indent=2, a tenth of that without). Use `jq .` to read it.
    text = json.dumps(value, ensure_ascii=False)
    if text.isascii():  # every deceptive character is outside ASCII: nothing to look for
        return text
    return _DECEPTIVE.sub(lambda m: f"\\u{ord(m[0]):04x}", text)


def iso(moment: datetime, tz: ZoneInfo) -> str:
    return moment.astimezone(tz).isoformat(timespec="seconds")


def _optional(moment: datetime | None, tz: ZoneInfo) -> str | None:
    return None if moment is None else iso(moment, tz)


def _entry(c: ReportCaller, tz: ZoneInfo, country: str | None) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "number": c.number_key if c.callable and c.number_key else c.number,
        "number_as_received": c.number,
        "name": c.name,
        "calls": c.calls,
        "first_at": iso(c.first_at, tz),
        "last_at": iso(c.last_at, tz),
        "reached_voicemail": c.reached_voicemail,
        "did": c.did,
        "reason": c.reason,
        "callable": c.callable,
        "last_call_id": c.last_call_id,
    }
    if isinstance(c, ReportCaller):
        entry.update(
            {
                "number_e164": e164(c),
                "number_national": number_of(c, country) if country else None,
                "rang": list(c.rang),
                "extensions": list(c.extensions),
                "new_calls": c.new_calls,
                "attempts": c.attempts,
                "last_attempt_at": _optional(c.last_attempt_at, tz),
                "status": "awaiting" if c.awaiting else "returned",
                "returned_at": _optional(c.returned_at, tz),
                "returned_how": c.returned_how,
            }
        )
    return entry


def missed_json(
    callers: Sequence[ReportCaller], tz: ZoneInfo, country: str | None = None
) -> dict[str, Any]:
    """``{"missed": [...]}``: one entry per caller, in the order given."""
    return {"missed": [_entry(c, tz, country) for c in callers]}


def week_json(week: WeekStats, tz: ZoneInfo) -> dict[str, Any]:
    median = week.median_to_callback
    return {
        "since": iso(week.since, tz),
        "until": iso(week.until, tz),
        "missed_calls": week.missed_calls,
        "callers": week.callers,
        "judged_callers": week.judged,
        "returned_within_24h": week.returned_within_24h,
        "share_returned_within_24h": week.share_returned_24h,
        "median_seconds_to_callback": None if median is None else int(median.total_seconds()),
        "never_got_through": week.never_got_through,
        # heatmap[0] is Monday; each row holds 24 hourly counts in the practice's time zone.
        "heatmap": [list(row) for row in week.grid],
    }


def report_json(report: Report) -> dict[str, Any]:
    # Machine output keeps the listener issue's contract: most recent first (with --all, callers
    # still awaiting before returned ones). The formats for people sort by urgency instead.
    ordered = sorted(
        report.callers, key=lambda c: (c.returned_at is not None, -c.last_at.timestamp())
    )
    result = missed_json(ordered, report.tz, report.country)
    result["since"] = iso(report.since, report.tz)
    result["until"] = iso(report.until, report.tz)
    result["new_since"] = iso(report.new_since, report.tz)
    result["awaiting"] = len(report.awaiting)
    result["new"] = len(report.new)
    result["generated_at"] = iso(report.generated_at, report.tz)
    if report.covers:
        result["for"] = list(report.covers)
    if report.week is not None:
        result["week"] = week_json(report.week, report.tz)
    result["gaps"] = [
        {
            "started_at": iso(g.started_at, report.tz),
            "ended_at": iso(g.ended_at, report.tz),
            "source": g.source,
            "filled_by": g.filled_by,
            "rows_added": g.rows_added,
        }
        for g in report.gaps
    ]
    return result
