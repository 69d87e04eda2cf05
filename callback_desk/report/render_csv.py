"""CSV for spreadsheets: one row per caller, full numbers, ISO 8601 times with offset.

Spreadsheets execute cells that start with ``=``, ``+``, ``-`` or ``@`` (and tab/CR), so such a
caller-supplied value gets a leading apostrophe (OWASP "CSV injection"). A bare number such as
``+12125550123`` cannot run anything and is left intact for machines.
"""

from __future__ import annotations

import csv
import io
import re

from callback_desk.report.model import Report, machine_number
from callback_desk.report.render_json import iso

HEADERS = (
    "number",
    "number_as_received",
    "name",
    "calls",
    "first_at",
    "last_at",
    "reached_voicemail",
    "did",
    "rang",
    "attempts",
    "last_attempt_at",
    "status",
    "returned_at",
    "returned_how",
    "callable",
    "last_call_id",
    "extensions",
    "new_calls",
)
_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"^[+-]?[0-9]+$")


def cell(value: str) -> str:
    if value.startswith(_TRIGGERS) and not _PLAIN_NUMBER.match(value):
        return "'" + value
    return value


def render(report: Report) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(HEADERS)
    tz = report.tz
    for c in report.callers:
        writer.writerow(
            [
                cell(machine_number(c)),
                cell(c.number),
                cell(c.name),
                c.calls,
                iso(c.first_at, tz),
                iso(c.last_at, tz),
                "yes" if c.reached_voicemail else "no",
                cell(c.did),
                cell(" ".join(c.rang)),
                c.attempts,
                iso(c.last_attempt_at, tz) if c.last_attempt_at else "",
                "awaiting" if c.awaiting else "returned",
                iso(c.returned_at, tz) if c.returned_at else "",
                c.returned_how or "",
                "yes" if c.callable else "no",
                c.last_call_id,
                cell(" ".join(c.extensions)),
                c.new_calls,
            ]
        )
    return buffer.getvalue()
