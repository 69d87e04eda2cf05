"""The report as plain values: callers, the week's picture, and how a number is shown.

Caller ID (number and name) is attacker-controlled text. Renderers escape it for their format;
the only number that may become a link or a dial string is :func:`e164`, which re-validates
the stored key.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from callback_desk.core.record import record
from callback_desk.core.typeshim import NamedTuple

_E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")
RETURNED_HOW = {
    "inbound_answered": "they called again and got through",
    "inbound_voicemail": "they called again and left a message",
    "outbound_answered": "called back (answered)",
    "callback_answered": "called back from the desk (answered)",
    "marked_handled": "marked as handled",
    "marked_never": "marked as never call back",
}


# A NamedTuple, not a dataclass: a report of every line makes tens of thousands of them, and a
# frozen dataclass's __init__ (a setattr per field) was ~5 us of each, a NamedTuple's a fraction.
class ReportCaller(NamedTuple):
    """One caller in the window: their missed calls summarised (latest values win)."""

    number: str  # as received on the latest call
    number_key: str | None
    name: str
    calls: int
    first_at: datetime
    last_at: datetime
    reached_voicemail: bool
    did: str
    reason: str
    last_call_id: int
    callable: bool
    rang: tuple[str, ...]  # dial strings as Asterisk reported them
    extensions: tuple[str, ...]  # the extensions they reached (normalised in the database)
    attempts: int
    last_attempt_at: datetime | None
    # Unreturned calls since the last business day's closing (0 for returned callers).
    new_calls: int = 0
    returned_at: datetime | None = None  # None: awaiting a callback
    returned_how: str | None = None

    @property
    def awaiting(self) -> bool:
        return self.returned_at is None

    @property
    def new(self) -> bool:
        return self.new_calls > 0


# Records (callback_desk/core/record.py), not dataclasses: each is made once or a few times per
# report, and the dataclasses module (with inspect, ast and dis) and each class's generated
# methods were a tenth of the instructions of one practice's report as a command (callgrind).
@record
class WeekStats:
    """How the practice returned the callers it missed in the week to ``until``."""

    since: datetime
    until: datetime
    # grid[weekday][hour]: missed calls; weekday 0 is Monday, hours in the practice's time zone.
    grid: tuple[tuple[int, ...], ...]
    callers: int
    # Callers whose first missed call is at least 24 h old: only they can be judged.
    judged: int
    returned_within_24h: int
    median_to_callback: timedelta | None
    never_got_through: int

    @property
    def missed_calls(self) -> int:
        return sum(sum(row) for row in self.grid)

    @property
    def share_returned_24h(self) -> float | None:
        return self.returned_within_24h / self.judged if self.judged else None


@record
class ListenerGap:
    """A time nobody listened to the PBX, and how it was filled (sql/0005_gaps.sql)."""

    started_at: datetime
    ended_at: datetime
    source: str  # startup | ami_cut
    filled_by: str  # pending | cel | cdr | not_configured | failed
    rows_added: int

    @property
    def filled(self) -> bool:
        return self.filled_by in ("cel", "cdr")


GAP_SOURCE = {"startup": "listener not running", "ami_cut": "AMI connection lost"}


@record
class Report:
    """Everything one report shows, for one recipient (or the screen)."""

    since: datetime
    until: datetime
    new_since: datetime
    generated_at: datetime
    tz: ZoneInfo
    country: str
    callers: tuple[ReportCaller, ...]
    week: WeekStats | None
    include_returned: bool = False
    covers: tuple[str, ...] = ()
    opening_line: str = ""
    tel_links: bool = False
    # The recipient's single-use sign-in link to the callback inbox ("" when there is none).
    inbox_link: str = ""
    gaps: tuple[ListenerGap, ...] = ()

    @property
    def awaiting(self) -> tuple[ReportCaller, ...]:
        return tuple(c for c in self.callers if c.awaiting)

    @property
    def new(self) -> tuple[ReportCaller, ...]:
        """Awaiting callers with a missed call since the last business day's closing."""
        return tuple(c for c in self.callers if c.awaiting and c.new)


def e164(caller: ReportCaller) -> str | None:
    """The caller's number fit for ``tel:`` links and dialling, or None."""
    key = caller.number_key
    if caller.callable and key and _E164.match(key):
        return key
    return None


def machine_number(caller: ReportCaller) -> str:
    """What JSON and CSV put in ``number``: E.164 when callable, else the raw value."""
    return caller.number_key if caller.callable and caller.number_key else caller.number


def masked_number(caller: ReportCaller) -> str:
    """Only the last four digits, for email: ``•••• 0123``."""
    digits = [ch for ch in (caller.number_key or caller.number) if ch.isascii() and ch.isdigit()]
    if len(digits) < 6:
        return "••••"
    return "•••• " + "".join(digits[-4:])


def how(code: str | None) -> str:
    if code is None:
        return "awaiting a callback"
    return RETURNED_HOW.get(code, code)


def count(n: int, noun: str) -> str:
    """``1 caller``, ``3 callers``."""
    return f"{n} {noun}{'' if n == 1 else 's'}"


def headline(report: Report) -> str:
    """``3 callers to call back (1 new)``: the one title of every format and the subject."""
    n, new = len(report.awaiting), len(report.new)
    if n == 0:
        return "Nobody to call back"
    return f"{count(n, 'caller')} to call back" + (f" ({new} new)" if new else "")
