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
from datetime import date, datetime, timedelta, timezone
from functools import cache, lru_cache
from zoneinfo import ZoneInfo

from callback_desk.core.awaiting import AwaitingCaller
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
    return _undeceived(json.dumps(value, ensure_ascii=False))


def _undeceived(text: str) -> str:
    """JSON text with the deceptive characters above escaped (see :func:`dumps`)."""
    if text.isascii():  # every deceptive character is outside ASCII: nothing to look for
        return text
    return _DECEPTIVE.sub(lambda m: f"\\u{ord(m[0]):04x}", text)


def iso(moment: datetime, tz: ZoneInfo) -> str:
    """``moment.astimezone(tz).isoformat(timespec="seconds")``, from pieces written once: a
    report of every line writes tens of thousands of times, and isoformat was ~2 us of each
    (tests/unit/test_report_json.py compares the two)."""
    local = moment.astimezone(tz)
    hours, minutes = _clock()
    return (
        _day(local.toordinal())
        + hours[local.hour]
        + minutes[local.minute * 60 + local.second]
        + _offset(local.utcoffset())
    )


@cache
def _clock() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """``THH:`` for each hour and ``MM:SS`` for each second of an hour."""
    return (
        tuple(f"T{h:02d}:" for h in range(24)),
        tuple(f"{m:02d}:{s:02d}" for m in range(60) for s in range(60)),
    )


@lru_cache(maxsize=1024)
def _day(ordinal: int) -> str:
    return date.fromordinal(ordinal).isoformat()


@lru_cache(maxsize=64)
def _offset(offset: timedelta | None) -> str:
    """What isoformat writes after the seconds for this UTC offset (``+00:00``, ``-03:30``)."""
    return datetime(2000, 1, 1, tzinfo=None if offset is None else timezone(offset)).isoformat()[
        19:
    ]


def _optional(moment: datetime | None, tz: ZoneInfo) -> str | None:
    return None if moment is None else iso(moment, tz)


# What json.dumps(ensure_ascii=False) writes for a string (its own C function), and for the
# other values an entry holds.
_string = json.encoder.encode_basestring


def _text(value: str | None) -> str:
    return "null" if value is None else _string(value)


def _moment(moment: datetime | None, tz: ZoneInfo) -> str:
    # iso() is digits, "-", ":", "T" and "+": nothing to escape.
    return "null" if moment is None else f'"{iso(moment, tz)}"'


def _strings(values: Sequence[str]) -> str:
    return "[" + ", ".join(map(_text, values)) + "]"


_TRUTH = {True: "true", False: "false"}

# The fields of the listener issue's entry, in its order, then the report's.
_LISTENER_ENTRY = (
    '{"number": %s, "number_as_received": %s, "name": %s, "calls": %d, "first_at": %s, '
    '"last_at": %s, "reached_voicemail": %s, "did": %s, "reason": %s, "callable": %s, '
    '"last_call_id": %d'
)
_REPORT_ENTRY = (
    ', "number_e164": %s, "number_national": %s, "rang": %s, "extensions": %s, '
    '"new_calls": %d, "attempts": %d, "last_attempt_at": %s, "status": %s, '
    '"returned_at": %s, "returned_how": %s'
)


def entry(c: ReportCaller | AwaitingCaller, tz: ZoneInfo, country: str | None) -> str:
    """One caller's entry in ``missed``, as JSON text: the one definition of an entry (a report
    of every line writes tens of thousands of them, and building a dict per caller for
    json.dumps was ~30 % of the 75-day report of bench/year.py). The text is what json.dumps
    (ensure_ascii=False, default separators) writes for the same entry as a dict, which
    tests/unit/test_report_json.py checks for any values; :func:`missed_json` reads it back."""
    text = _LISTENER_ENTRY % (
        _string(c.number_key if c.callable and c.number_key else c.number),
        _string(c.number),
        _string(c.name),
        c.calls,
        _moment(c.first_at, tz),
        _moment(c.last_at, tz),
        _TRUTH[c.reached_voicemail],
        _string(c.did),
        _string(c.reason),
        _TRUTH[c.callable],
        c.last_call_id,
    )
    if not isinstance(c, ReportCaller):  # the listener issue's fields only
        return text + "}"
    return (
        text
        + _REPORT_ENTRY
        % (
            _text(e164(c)),
            _text(number_of(c, country) if country else None),
            _strings(c.rang),
            _strings(c.extensions),
            c.new_calls,
            c.attempts,
            _moment(c.last_attempt_at, tz),
            '"awaiting"' if c.awaiting else '"returned"',
            _moment(c.returned_at, tz),
            _text(c.returned_how),
        )
        + "}"
    )


def missed_json(
    callers: Sequence[ReportCaller | AwaitingCaller], tz: ZoneInfo, country: str | None = None
) -> dict[str, Any]:
    """``{"missed": [...]}``: one entry per caller, in the order given."""
    return {"missed": [json.loads(entry(c, tz, country)) for c in callers]}


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


def report_json(report: Report) -> str:
    """The report as JSON text (ending without a newline): ``missed``, then the report's
    fields."""
    # Machine output keeps the listener issue's contract: most recent first (with --all, callers
    # still awaiting before returned ones). The formats for people sort by urgency instead.
    ordered = sorted(
        report.callers, key=lambda c: (c.returned_at is not None, -c.last_at.timestamp())
    )
    tz = report.tz
    rest: dict[str, Any] = {
        "since": iso(report.since, tz),
        "until": iso(report.until, tz),
        "new_since": iso(report.new_since, tz),
        "awaiting": len(report.awaiting),
        "new": len(report.new),
        "generated_at": iso(report.generated_at, tz),
    }
    if report.covers:
        rest["for"] = list(report.covers)
    if report.week is not None:
        rest["week"] = week_json(report.week, tz)
    rest["gaps"] = [
        {
            "started_at": iso(g.started_at, tz),
            "ended_at": iso(g.ended_at, tz),
            "source": g.source,
            "filled_by": g.filled_by,
            "rows_added": g.rows_added,
        }
        for g in report.gaps
    ]
    missed = ", ".join([entry(c, tz, report.country) for c in ordered])
    # json.dumps of {"missed": [...], **rest}: rest always holds "since".
    return _undeceived(f'{{"missed": [{missed}], {json.dumps(rest, ensure_ascii=False)[1:]}')
