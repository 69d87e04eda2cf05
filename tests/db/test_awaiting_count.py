"""The desk menu's count (``awaiting_menu_count``) is the length of its list (``awaiting_menu``)
for every window and line scope: both read the calls of ``awaiting_in()``
(sql/0015_awaiting_count.sql), so the menu never says one number and reads out another."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from agi.queries import Callbacks
from callback_desk.core.awaiting import menu_count, menu_rows
from callback_desk.core.model import CallRecord, Disposition, Outcome, Reason
from callback_desk.core.store import Store
from tests.report_support import call

# The desk's own rights, as the menu reads.
pytestmark = pytest.mark.db_role("cbd_desk")

NOW = datetime(2026, 12, 1, 14, 0, tzinfo=UTC)
NUMBERS = [f"212555{n:04d}" for n in range(1, 41)]
# Lines: DIDs 2000-2003; extensions 100-103, reached directly, through a queue or a ring group.
RANG = [
    ("PJSIP/100",),
    ("PJSIP/101", "Local/100@from-queue/n"),
    ("102@phones",),
    ("PJSIP/103/sip:103@10.0.0.3",),
    ("Local/101@from-queue/n", "PJSIP/102"),
]


def _calls(rng: random.Random, n: int) -> list[CallRecord]:
    """Repeat callers over 30 days on every line: missed (most), answered, a message left;
    withheld numbers and numbers a desk may not dial."""
    found = []
    for i in range(n):
        at = NOW - timedelta(minutes=rng.randrange(30 * 24 * 60))
        luck = rng.random()
        number = "anonymous" if luck < 0.08 else "+44 20" if luck < 0.12 else rng.choice(NUMBERS)
        record = call(f"c{i}", at, number, did=f"200{rng.randrange(4)}", rang=rng.choice(RANG))
        kind = rng.random()
        if kind < 0.15:
            record = replace(record, outcome=Outcome.ANSWERED, reason=Reason.ANSWERED)
        elif kind < 0.2:
            record = replace(record, outcome=Outcome.VOICEMAIL, reason=Reason.VOICEMAIL_LEFT)
        found.append(record)
    return found


SCOPES = [
    ("*",),
    ("100",),
    ("101",),
    ("2000",),
    ("2003", "102"),
    ("2001", "2002", "100", "103"),
    ("999",),  # a line nobody called
]
WINDOWS = [timedelta(minutes=30), timedelta(days=1), timedelta(days=14), timedelta(days=40)]


async def test_the_count_is_the_length_of_the_list_for_every_scope_and_window(
    store: Store, component_store: Store
) -> None:
    await store.record_calls("pbx", _calls(random.Random(18), 400))
    desk = Callbacks(component_store.pool)
    # Some callers marked (one call handled, one number never), as the menu would.
    marked = await desk.waiting(("*",), NOW - timedelta(days=14), NOW)
    for waiter, how in zip(marked[:4], [Disposition.HANDLED, Disposition.NEVER] * 2, strict=True):
        await desk.dispose(waiter.call_id, waiter.number_key, how, "100")
    seen = set()
    for scope in SCOPES:
        for lookback in WINDOWS:
            for until in (NOW, NOW - timedelta(days=3, minutes=7)):
                since = until - lookback
                listed = await desk.waiting(scope, since, until)
                counted = await desk.waiting_count(scope, since, until)
                assert counted == len(listed), (scope, lookback, until)
                seen.add(counted)
    # The data is not trivial: empty lists, a few callers, most of them.
    assert 0 in seen and max(seen) > 20 and len(seen) > 10


async def test_the_count_leaves_out_whom_the_list_leaves_out(store: Store) -> None:
    # A withheld call and a number no desk may dial are awaiting a callback (the report lists
    # them) but not on the desk's list, nor in its count.
    at = NOW - timedelta(hours=2)
    await store.record_calls(
        "pbx",
        [
            call("a", at, "2125550101"),
            call("b", at + timedelta(minutes=5), "2125550101"),  # the same caller again
            call("c", at, "anonymous", number_key=None, callable=False),
            call("d", at, "+44 20", callable=False),
        ],
    )
    lookback = timedelta(days=1)
    rows = await menu_rows(store.pool, scope=("*",), now=NOW, lookback=lookback)
    assert [r["number_key"] for r in rows] == ["+12125550101"]
    assert await menu_count(store.pool, scope=("*",), now=NOW, lookback=lookback) == 1
    assert await menu_count(store.pool, scope=(), now=NOW, lookback=lookback) == 0
