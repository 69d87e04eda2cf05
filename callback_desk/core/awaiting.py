"""Who is awaiting a callback: the one definition, for the report, the desk menu and the inbox.

A caller is awaiting a callback when they have a missed call within the look-back
(``[awaiting] lookback_days``, 14 days by default) that has not been returned: no later call
from that number reached anyone, no callback to it was answered, and nobody marked the caller
handled (after that call) or never-call-back. It is a to-do list, not a log of the night: a
caller missed on Friday at midday stays on every list until someone returns the call.

What is *new* is marked, not filtered: ``new_calls`` counts the caller's unreturned calls since
``new_since`` (the report passes the last business day's closing).

The rule lives in ``sql/queries_awaiting.sql`` (query ``awaiting``); the ``missed_calls`` view
applies the same rule per call, for history.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from callback_desk.core.config import AwaitingSettings
from callback_desk.core.connection import Queryable
from callback_desk.core.dberrors import mapped_errors
from callback_desk.core.scope import sql_lines
from callback_desk.core.sqlfiles import queries

DEFAULT_LOOKBACK = timedelta(days=AwaitingSettings.lookback_days)


@dataclass(frozen=True, slots=True)
class AwaitingCaller:
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
    return [AwaitingCaller(**values(r)) for r in rows]


async def awaiting_rows(
    db: Queryable,
    *,
    scope: Sequence[str],
    now: datetime,
    lookback: timedelta = DEFAULT_LOOKBACK,
    new_since: datetime | None = None,
    callable_only: bool = False,
) -> Sequence[Mapping[str, Any]]:
    """:func:`awaiting`'s rows as the database returns them (the fields of
    :class:`AwaitingCaller`), for a reader that needs a few of them fast: the desk menu."""
    if not scope:
        return []
    if lookback <= timedelta(0):
        raise ValueError(f"lookback must be positive, not {lookback}")
    async with mapped_errors("reading who is awaiting a callback"):
        rows: Sequence[Mapping[str, Any]] = await db.fetch(
            queries()["awaiting"],
            now - lookback,
            now,
            sql_lines(scope),
            now if new_since is None else new_since,
            callable_only,
        )
    return rows


def values(record: Mapping[str, Any], *, leave_out: Sequence[str] = ()) -> dict[str, Any]:
    """A caller row as keyword arguments of a frozen dataclass: arrays become tuples."""
    return {
        k: tuple(v) if isinstance(v, list) else v for k, v in record.items() if k not in leave_out
    }
