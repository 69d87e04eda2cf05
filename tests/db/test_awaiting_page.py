"""A page of the inbox (``awaiting_page``, :func:`callback_desk.core.awaiting.page`) is a slice of
the one list (``awaiting``) in the inbox's order, for every window, line scope, search and page:
the query chooses the page's callers before it summarises them, and must choose the same ones
with the same figures."""

from __future__ import annotations

import random
import re
from datetime import timedelta

import asyncpg
import pytest

from agi.queries import Callbacks
from callback_desk.core.awaiting import AwaitingCaller, awaiting, page
from callback_desk.core.model import Disposition
from callback_desk.core.sqlfiles import queries
from callback_desk.core.store import Store
from tests.db.test_awaiting_count import NOW, SCOPES, WINDOWS, _calls

# The inbox's own rights, as it reads.
pytestmark = pytest.mark.db_role("cbd_web")


def most_urgent_first(callers: list[AwaitingCaller]) -> list[AwaitingCaller]:
    """The inbox's order: the most calls, then the most recent, then the caller (byte order)."""
    by_caller = sorted(callers, key=lambda c: c.caller.encode())
    return sorted(by_caller, key=lambda c: (c.calls, c.last_at), reverse=True)


async def test_every_page_is_a_slice_of_the_list_in_the_inbox_order(
    store: Store, component_store: Store
) -> None:
    await store.record_calls("pbx", _calls(random.Random(47), 500))
    desk = Callbacks(store.pool)
    waiting = await desk.waiting(("*",), NOW - timedelta(days=40), NOW)
    # Callbacks towards some callers (unanswered: they still wait, with attempts to show) and
    # decisions on others, as the desks would.
    for waiter in waiting[:12]:
        await store.pool.execute(
            "INSERT INTO callback_attempts (call_id, extension, started_at, dial_status)"
            " VALUES ($1, '100', $2, 'NOANSWER')",
            waiter.call_id,
            NOW - timedelta(hours=1),
        )
    for waiter, how in zip(
        waiting[12:16], [Disposition.HANDLED, Disposition.NEVER] * 2, strict=True
    ):
        await desk.dispose(waiter.call_id, waiter.number_key, how, "100")
    db = component_store.pool
    seen: set[int] = set()
    listed: list[AwaitingCaller] = []
    for scope in SCOPES:
        for lookback in WINDOWS:
            new_since = NOW - timedelta(days=1)
            everyone = await awaiting(
                db, scope=scope, now=NOW, lookback=lookback, new_since=new_since
            )
            for digits in (None, "1", "05", "0007"):
                wanted = most_urgent_first(
                    [c for c in everyone if digits is None or c.caller.endswith(digits)]
                )
                for size, offset in ((7, 0), (7, 7), (50, 0), (4, max(len(wanted) - 2, 0))):
                    found = await page(
                        db,
                        scope=scope,
                        now=NOW,
                        lookback=lookback,
                        new_since=new_since,
                        digits=digits,
                        size=size,
                        offset=offset,
                    )
                    where = (scope, lookback, digits, size, offset)
                    assert list(found.callers) == wanted[offset : offset + size], where
                    assert found.total == len(wanted), where
                seen.add(len(wanted))
                listed += wanted
    # The data is not trivial: empty lists, a few callers, pages of many; repeat callers and
    # callers with callbacks placed are among them.
    assert 0 in seen and max(seen) > 20 and len(seen) > 10
    assert any(c.calls > 1 for c in listed) and any(c.attempts for c in listed)


async def test_only_the_pages_callers_are_summarised(owner_dsn: str) -> None:
    # The page's callers reach awaiting_callers() as a condition on caller that PostgreSQL
    # pushes into it, down to the scan of awaiting_calls (by awaiting_calls_caller_idx on a
    # real table): the summary reads their calls only, not the window's thousands. Left above
    # the function (a join in its place), it would summarise everyone, then keep fifty.
    conn = await asyncpg.connect(owner_dsn)
    try:
        for lines in (None, ["2000", "101"]):
            args = (NOW - timedelta(days=14), NOW, lines, NOW, False, None, 50, 0)
            rows = await conn.fetch(f"EXPLAIN {queries()['awaiting_page']}", *args)
            plan = [r[0] for r in rows]
            at = next(i for i, line in enumerate(plan) if "caller = ANY" in line)
            node = next(line for line in reversed(plan[: at + 1]) if "->" in line)
            assert re.search(r"Scan .*on awaiting_calls", node), "\n".join(plan)
    finally:
        await conn.close()
