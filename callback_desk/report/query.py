"""Reading the report from PostgreSQL (the only I/O of the report besides mail)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from operator import attrgetter, itemgetter
from zoneinfo import ZoneInfo

from callback_desk.core import lazylog, pgwire, phone
from callback_desk.core.awaiting import AwaitingCaller, awaiting_rows, page, values
from callback_desk.core.dberrors import mapped_errors
from callback_desk.core.exceptions import StoreError
from callback_desk.core.scope import ALL_LINES, sql_lines
from callback_desk.core.shown import number_of
from callback_desk.core.sqlfiles import queries
from callback_desk.core.typeshim import TYPE_CHECKING
from callback_desk.report.model import ListenerGap, ReportCaller, WeekStats

if TYPE_CHECKING:
    from typing import Any

    from callback_desk.core.store import Store

logger = lazylog.get(__name__)  # see callback_desk.cli's logger


@asynccontextmanager
async def reading(store: Store) -> AsyncIterator[Any]:
    """One snapshot for the whole report, so the list and the week agree. Not a read-only
    transaction: the report keeps the numbers' forms it had to work out (:func:`callers`),
    which is all it writes (sql/grants.sql)."""
    async with mapped_errors("reading the report"), store.pool.acquire() as conn:
        async with conn.transaction(isolation="repeatable_read"):
            yield conn


@asynccontextmanager
async def reading_wire(conn: pgwire.Connection) -> AsyncIterator[Any]:
    """:func:`reading` over :mod:`callback_desk.core.pgwire` (the report as a command: see
    :func:`callback_desk.report.command.run`). The caller closes the connection, which ends a
    transaction left open by an error."""
    async with mapped_errors("reading the report"):
        conn.fetch("BEGIN ISOLATION LEVEL REPEATABLE READ")
        yield pgwire.WirePool(conn)
        conn.fetch("COMMIT")


def _covers(covers: Sequence[str]) -> list[str] | None:
    return sql_lines(covers or (ALL_LINES,))


def _from_awaiting(c: AwaitingCaller) -> ReportCaller:
    shared = {name: getattr(c, name) for name in AwaitingCaller._fields if name != "caller"}
    return ReportCaller(**shared, returned_at=None, returned_how=None)


# The fields of a report caller that a caller awaiting a callback has (the rest say how a caller
# was returned), in the record's order.
_AWAITING_FIELDS = ReportCaller._fields[: ReportCaller._fields.index("shown") + 1]


async def _shown(
    conn: Any, found: list[ReportCaller], country: str, rules: str
) -> list[ReportCaller]:
    """``found`` with every number's form for people in ``country`` (``shown``): as the report
    read it, or worked out now and kept for the next report (sql/0016_number_forms.sql)."""
    fresh: dict[str, str] = {}
    wrong = 0
    for i, c in enumerate(found):
        key = c.number_key
        if not key or (c.shown is not None and phone.shows(key, c.shown, country)):
            continue
        shown = number_of(c, country)
        found[i] = c._replace(shown=shown)
        if c.shown is not None:
            # Kept, but not this number (planted by a role that may add forms, or a rule that
            # writes a number's digits otherwise): worked out again, and the kept one left.
            wrong += 1
        elif key.startswith("+"):  # a key of another shape is shown as it is: nothing to keep
            fresh[key] = shown
    if wrong:
        logger.warning(
            "%d kept number forms do not show their numbers; worked out again",
            wrong,
            extra={"action": "number_forms_mismatch"},
        )
    if fresh:
        await _keep(conn, country, rules, fresh)
    return found


async def _keep(conn: Any, country: str, rules: str, forms: dict[str, str]) -> None:
    """Keep ``forms`` (number key -> form) under a savepoint: a report that may not write (a
    standby, a role without its grants, another report keeping the same number at that moment)
    shows the same, and works them out again next time."""
    await conn.fetch("SAVEPOINT keep_number_forms")
    try:
        async with mapped_errors("keeping the numbers' forms"):
            await conn.fetch(
                queries()["keep_number_forms"], country, rules, list(forms), list(forms.values())
            )
    except StoreError as exc:
        logger.info("Numbers' forms not kept: %s", exc, extra={"action": "forms_not_kept"})
        await conn.fetch("ROLLBACK TO SAVEPOINT keep_number_forms")
    else:
        await conn.fetch("RELEASE SAVEPOINT keep_number_forms")


async def callers(
    conn: Any,
    since: datetime,
    until: datetime,
    new_since: datetime,
    *,
    include_returned: bool = False,
    covers: Sequence[str] = (),
    country: str | None = None,
) -> list[ReportCaller]:
    """Callers awaiting a callback with missed calls in ``[since, until)`` (the core's one
    definition), then with ``include_returned`` those of the window who were returned.
    Most urgent first: awaiting, then most calls, then most recent. ``country``: the awaiting
    callers come with their numbers as people there read them (``shown``)."""
    scope = tuple(covers) or (ALL_LINES,)
    forms = None if country is None else (country, phone.rules())
    awaiting = await awaiting_rows(
        conn, scope=scope, now=until, lookback=until - since, new_since=new_since, forms=forms
    )
    # Field by field from each row's list, picked in one call: a report of every line makes tens
    # of thousands of callers.
    pick = itemgetter(*(awaiting.columns.index(name) for name in _AWAITING_FIELDS))
    found = [ReportCaller(*pick(r)) for r in awaiting.rows]
    if forms is not None:
        found = await _shown(conn, found, *forms)
    if include_returned:
        async with mapped_errors("reading the report"):
            rows = await conn.fetch(queries()["report_returned"], since, until, _covers(covers))
        found += [ReportCaller(**values(r, leave_out=("caller",))) for r in rows]
    return urgent_first(found)


def urgent_first(found: list[ReportCaller]) -> list[ReportCaller]:
    """Awaiting callers first, then the most calls, then the most recent, then by number: one
    stable sort per key, the last key first, each by a key read in C (attrgetter) rather than
    a tuple made per caller in Python, which was most of sorting a report of every line."""
    found = sorted(found, key=_number)
    found.sort(key=_LAST_AT, reverse=True)  # reverse=True keeps equal keys in order too
    found.sort(key=_CALLS, reverse=True)
    found.sort(key=_AWAITING, reverse=True)
    return found


def _number(c: ReportCaller) -> str:
    return c.number_key or c.number


_LAST_AT = attrgetter("last_at")
_CALLS = attrgetter("calls")
_AWAITING = attrgetter("awaiting")


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
