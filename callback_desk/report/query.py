"""Reading the report from PostgreSQL (the only I/O of the report besides mail)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from operator import itemgetter
from zoneinfo import ZoneInfo

from callback_desk.core import pgwire
from callback_desk.core.awaiting import AwaitingCaller, awaiting_rows, page, values
from callback_desk.core.dberrors import mapped_errors
from callback_desk.core.scope import ALL_LINES, sql_lines
from callback_desk.core.sqlfiles import queries
from callback_desk.core.typeshim import TYPE_CHECKING
from callback_desk.report.model import ListenerGap, ReportCaller, WeekStats

if TYPE_CHECKING:
    from typing import Any

    from callback_desk.core.store import Store


@asynccontextmanager
async def reading(store: Store) -> AsyncIterator[Any]:
    """One read-only snapshot for the whole report, so the list and the week agree."""
    async with mapped_errors("reading the report"), store.pool.acquire() as conn:
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            yield conn


@asynccontextmanager
async def reading_wire(conn: pgwire.Connection) -> AsyncIterator[Any]:
    """:func:`reading` over :mod:`callback_desk.core.pgwire` (the report as a command: see
    :func:`callback_desk.report.command.run`). The caller closes the connection, which ends a
    transaction left open by an error."""
    async with mapped_errors("reading the report"):
        conn.fetch("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        yield pgwire.WirePool(conn)
        conn.fetch("COMMIT")


def _covers(covers: Sequence[str]) -> list[str] | None:
    return sql_lines(covers or (ALL_LINES,))


def _from_awaiting(c: AwaitingCaller) -> ReportCaller:
    shared = {name: getattr(c, name) for name in AwaitingCaller._fields if name != "caller"}
    return ReportCaller(**shared, returned_at=None, returned_how=None)


# The fields of a report caller that a caller awaiting a callback has (the rest say how a caller
# was returned), in the record's order.
_AWAITING_FIELDS = ReportCaller._fields[: ReportCaller._fields.index("new_calls") + 1]


async def callers(
    conn: Any,
    since: datetime,
    until: datetime,
    new_since: datetime,
    *,
    include_returned: bool = False,
    covers: Sequence[str] = (),
) -> list[ReportCaller]:
    """Callers awaiting a callback with missed calls in ``[since, until)`` (the core's one
    definition), then with ``include_returned`` those of the window who were returned.
    Most urgent first: awaiting, then most calls, then most recent."""
    scope = tuple(covers) or (ALL_LINES,)
    awaiting = await awaiting_rows(
        conn, scope=scope, now=until, lookback=until - since, new_since=new_since
    )
    # Field by field from each row's list, picked in one call: a report of every line makes tens
    # of thousands of callers.
    pick = itemgetter(*(awaiting.columns.index(name) for name in _AWAITING_FIELDS))
    found = [ReportCaller(*pick(r)) for r in awaiting.rows]
    if include_returned:
        async with mapped_errors("reading the report"):
            rows = await conn.fetch(queries()["report_returned"], since, until, _covers(covers))
        found += [ReportCaller(**values(r, leave_out=("caller",))) for r in rows]
    return sorted(
        found,
        key=lambda c: (not c.awaiting, -c.calls, -c.last_at.timestamp(), c.number_key or c.number),
    )


async def callers_page(
    conn: Any,
    since: datetime,
    until: datetime,
    new_since: datetime,
    *,
    covers: Sequence[str] = (),
    digits: str | None = None,
    size: int,
    offset: int = 0,
) -> tuple[list[ReportCaller], int]:
    """``size`` callers of :func:`callers` from ``offset`` (all awaiting a callback, the most
    urgent first) and how many there are; ``digits``: only numbers ending with them."""
    found = await page(
        conn,
        scope=tuple(covers) or (ALL_LINES,),
        now=until,
        lookback=until - since,
        new_since=new_since,
        digits=digits,
        size=size,
        offset=offset,
    )
    return [_from_awaiting(c) for c in found.callers], found.total


async def week(
    conn: Any, until: datetime, days: int, tz: ZoneInfo, covers: Sequence[str] = ()
) -> WeekStats:
    since = until - timedelta(days=days)
    q = queries()
    async with mapped_errors("reading the week's statistics"):
        row = await conn.fetchrow(q["report_week"], since, until, tz.key, _covers(covers))
    cells = row["grid"]  # 7 x 24, Monday's hours first
    median = row["median_seconds"]
    return WeekStats(
        since=since,
        until=until,
        grid=tuple(tuple(cells[day * 24 : day * 24 + 24]) for day in range(7)),
        callers=row["callers"],
        judged=row["judged"],
        returned_within_24h=row["returned_24h"],
        median_to_callback=None if median is None else timedelta(seconds=round(median)),
        never_got_through=row["never_got_through"],
    )


async def gaps(conn: Any, since: datetime, until: datetime) -> list[ListenerGap]:
    """Times nobody listened to the PBX that overlap the window (ami_listener.gaps)."""
    async with mapped_errors("reading the listener gaps"):
        rows = await conn.fetch(queries()["gaps_between"], since, until)
    return [
        ListenerGap(
            started_at=r["started_at"],
            ended_at=r["ended_at"],
            source=r["source"],
            filled_by=r["filled_by"],
            rows_added=r["rows_added"],
        )
        for r in rows
    ]
