"""Who is awaiting a callback: the one definition, for the report, the desk menu and the inbox.

A caller is awaiting a callback when they have a missed call within the look-back
(``[awaiting] lookback_days``, 14 days by default) that has not been returned: no later call
from that number reached anyone, no callback to it was answered, and nobody marked the caller
handled (after that call) or never-call-back. It is a to-do list, not a log of the night: a
caller missed on Friday at midday stays on every list until someone returns the call.

What is *new* is marked, not filtered: ``new_calls`` counts the caller's unreturned calls since
``new_since`` (the report passes the last business day's closing).

The rule is kept, not recomputed: ``awaiting_rule()`` (``sql/0009_awaiting_state.sql``) says which
missed calls await a callback, triggers on every table it reads keep exactly those calls in
``awaiting_calls`` whoever writes, and ``awaiting_callers()`` summarises them per caller for a
window and a set of lines. The queries of ``sql/queries_awaiting.sql`` read that summary: all of
it (:func:`awaiting`, the report), what the desk menu reads out (:func:`menu_rows`), or one page
of it (:func:`page`, the inbox); or only count its callers (:func:`menu_count`, what the desk menu
says first), over the same calls (``awaiting_in()``, ``sql/0015_awaiting_count.sql``). The
``missed_calls`` view applies the same rule per call, with when and how each call was returned,
for history.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta

from callback_desk.core.config import AwaitingSettings
from callback_desk.core.connection import Queryable
from callback_desk.core.dberrors import mapped_errors
from callback_desk.core.scope import sql_lines
from callback_desk.core.sqlfiles import queries
from callback_desk.core.typeshim import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from typing import Any

DEFAULT_LOOKBACK = timedelta(days=AwaitingSettings.lookback_days)


# NamedTuples, not dataclasses: the classic AGI imports this module for the desk's menu, and a
# dataclass costs each *47's start ~0.7 ms to create (its methods are compiled at import).
class AwaitingCaller(NamedTuple):
    """One caller to call back, summarised over their unreturned missed calls (latest wins)."""

    caller: str  # the number key, or the number as received when it has none (withheld)
    number: str  # as received on the latest call
    number_key: str | None
    name: str
    callable: bool
    calls: int
    new_calls: int  # of ``calls``, those at or after ``new_since``
    first_at: datetime
    last_at: datetime
    last_call_id: int
    did: str
    reason: str
    reached_voicemail: bool
    rang: tuple[str, ...]  # the dial strings as Asterisk reported them
    extensions: tuple[str, ...]  # the extensions they reached (the line scope's unit)
    attempts: int  # callbacks placed towards the caller since ``first_at``
    last_attempt_at: datetime | None

    @property
    def new(self) -> bool:
        return self.new_calls > 0


class Page(NamedTuple):
    """One page of the callers awaiting a callback, most urgent first (see :func:`page`)."""

    callers: tuple[AwaitingCaller, ...]
    total: int  # how many callers match, on every page
    offset: int  # of the first caller shown


def _window(
    scope: Sequence[str], now: datetime, lookback: timedelta, new_since: datetime | None
) -> tuple[datetime, datetime, list[str] | None, datetime]:
    """The parameters every awaiting query shares ($1..$4)."""
    if lookback <= timedelta(0):
        raise ValueError(f"lookback must be positive, not {lookback}")
    return now - lookback, now, sql_lines(scope), now if new_since is None else new_since


async def awaiting(
    db: Queryable,
    *,
    scope: Sequence[str],
    now: datetime,
    lookback: timedelta = DEFAULT_LOOKBACK,
    new_since: datetime | None = None,
    callable_only: bool = False,
) -> list[AwaitingCaller]:
    """Callers awaiting a callback with a missed call in ``[now - lookback, now)``, most recent
    first. ``scope``: the lines to include (``("*",)`` for all; empty for none). ``callable_only``:
    leave out numbers a desk phone may not dial (withheld, malformed, not allowed)."""
    rows = await awaiting_rows(
        db,
        scope=scope,
        now=now,
        lookback=lookback,
        new_since=new_since,
        callable_only=callable_only,
    )
    return [AwaitingCaller(**dict(zip(rows.columns, r, strict=True))) for r in rows.rows]


class Rows(NamedTuple):
    """Rows as lists of values, with the names of their columns in order (see
    :func:`awaiting_rows`)."""

    columns: tuple[str, ...]
    rows: list[list[Any]]


async def awaiting_rows(
    db: Queryable,
    *,
    scope: Sequence[str],
    now: datetime,
    lookback: timedelta = DEFAULT_LOOKBACK,
    new_since: datetime | None = None,
    callable_only: bool = False,
) -> Rows:
    """:func:`awaiting`'s rows (the fields of :class:`AwaitingCaller`, ``caller`` included),
    each a list of values in the order of ``columns``, with arrays as tuples: for a reader that
    builds its own values from thousands of them (a report of every line). Read as one JSON
    document (``awaiting_document``), the same values as the rows of the summary: over pgwire,
    decoding each value of the 75-day report's 15,839 rows in Python took ~300 ms of CPU,
    json.loads ~60 ms (bench/year.py's host)."""
    if not scope:
        return Rows(AwaitingCaller._fields, [])
    window = _window(scope, now, lookback, new_since)
    async with mapped_errors("reading who is awaiting a callback"):
        document = await db.fetchval(queries()["awaiting_document"], *window, callable_only)
    import json  # here: the classic AGI imports this module for the menu, which reads no report

    names, rows = json.loads(document)
    columns = tuple(names)
    moments = [columns.index(name) for name in _MOMENTS]
    arrays = [columns.index(name) for name in _ARRAYS]
    for row in rows:
        for i in moments:
            text = row[i]
            if text is not None:
                row[i] = _moment(text)
        for i in arrays:
            row[i] = tuple(row[i])
    return Rows(columns, rows)


# The timestamps of an awaiting row, which JSON carries as text, and its arrays.
_MOMENTS = ("first_at", "last_at", "last_attempt_at")
_ARRAYS = ("rang", "extensions")


def _moment(text: str) -> datetime:
    """A timestamp of ``awaiting_document`` as both clients decode a timestamptz, in UTC (JSON
    writes it in the session's time zone: UTC for pgwire, the server's for asyncpg)."""
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo is UTC else moment.astimezone(UTC)


async def menu_rows(
    db: Queryable, *, scope: Sequence[str], now: datetime, lookback: timedelta = DEFAULT_LOOKBACK
) -> Sequence[Mapping[str, Any]]:
    """What the desk menu reads out of :func:`awaiting`'s callers whom a desk phone may dial,
    in its order: ``last_call_id``, ``number_key``, ``number``, ``calls``, ``last_at``. A desk
    hearing every line of a busy PBX has thousands: the rest of the summary is left unread."""
    return await _fetch(db, "awaiting_menu", scope, now, lookback, None, True)


async def menu_count(
    db: Queryable, *, scope: Sequence[str], now: datetime, lookback: timedelta = DEFAULT_LOOKBACK
) -> int:
    """How many callers :func:`menu_rows` would list, without summarising each one: what the
    desk menu says first (for a desk hearing every line, a fraction of reading the list)."""
    if not scope:
        return 0
    since, until, lines, _ = _window(scope, now, lookback, None)
    async with mapped_errors("counting who is awaiting a callback"):
        count: int = await db.fetchval(queries()["awaiting_menu_count"], since, until, lines)
    return count


async def _fetch(
    db: Queryable,
    query: str,
    scope: Sequence[str],
    now: datetime,
    lookback: timedelta,
    new_since: datetime | None,
    *more: Any,
) -> Sequence[Mapping[str, Any]]:
    """One of the awaiting queries for a window and scope; no rows for an empty scope."""
    if not scope:
        return []
    window = _window(scope, now, lookback, new_since)
    async with mapped_errors("reading who is awaiting a callback"):
        rows: Sequence[Mapping[str, Any]] = await db.fetch(queries()[query], *window, *more)
    return rows


async def page(
    db: Queryable,
    *,
    scope: Sequence[str],
    now: datetime,
    lookback: timedelta = DEFAULT_LOOKBACK,
    new_since: datetime | None = None,
    digits: str | None = None,
    size: int,
    offset: int = 0,
) -> Page:
    """``size`` of :func:`awaiting`'s callers from ``offset``, most urgent first: the most calls,
    then the most recent. ``digits``: only callers whose number ends with these digits."""
    if size < 1 or offset < 0:
        raise ValueError(f"a page needs a positive size and an offset >= 0, not {size}, {offset}")
    if digits is not None and not (digits.isascii() and digits.isdigit()):
        raise ValueError("digits must be ASCII digits")
    args = (False, digits, size, offset)
    rows = await _fetch(db, "awaiting_page", scope, now, lookback, new_since, *args)
    total = rows[0]["total"] if rows else 0
    if not rows and offset > 0:
        # Past the end (callers were returned meanwhile): how many there are still.
        first = await _fetch(
            db, "awaiting_page", scope, now, lookback, new_since, False, digits, 1, 0
        )
        total = first[0]["total"] if first else 0
    callers = tuple(AwaitingCaller(**values(r, leave_out=("total",))) for r in rows)
    return Page(callers, total, offset)


def values(record: Mapping[str, Any], *, leave_out: Sequence[str] = ()) -> dict[str, Any]:
    """A caller row as keyword arguments of a record: arrays become tuples."""
    return {
        k: tuple(v) if isinstance(v, list) else v for k, v in record.items() if k not in leave_out
    }
