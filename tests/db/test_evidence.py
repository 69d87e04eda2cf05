"""Two writers of one call (two listeners, a listener and a gap reconciliation): one row per
(pbx, linkedid), and the decision with more evidence wins whichever writes last."""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from callback_desk.core.model import CallRecord, Direction, Outcome, Reason
from callback_desk.core.store import Store

# The writers connect with cbd_listener's rights only (sql/grants.sql): the upgrade path needs
# UPDATE on calls, the gap bookkeeping INSERT on listener_gaps.
pytestmark = pytest.mark.db_role("cbd_listener")

T0 = datetime(2026, 11, 26, 18, 0, tzinfo=UTC)


@pytest.fixture
async def store(component_store: Store) -> Store:
    return component_store


MISSED = CallRecord(
    linkedid="1764439200.7",
    direction=Direction.INBOUND,
    outcome=Outcome.MISSED,
    reason=Reason.HANGUP_WHILE_RINGING,
    number="2125550123",
    name="Caller",
    number_key="+12125550123",
    callable=True,
    did="2000",
    rang=("100@phones",),
    started_at=T0,
    ended_at=T0 + timedelta(seconds=20),
    ring_seconds=12.5,
    reached_voicemail=False,
)
UNKNOWN_END = replace(MISSED, reason=Reason.UNKNOWN_END, ended_at=T0 + timedelta(seconds=3))
VOICEMAIL = replace(
    MISSED, outcome=Outcome.VOICEMAIL, reason=Reason.VOICEMAIL_LEFT, reached_voicemail=True
)
ANSWERED = replace(MISSED, outcome=Outcome.ANSWERED, reason=Reason.ANSWERED)
RECONCILED = replace(MISSED, reason=Reason.RECONCILED_VOICEMAIL_UNKNOWN, reached_voicemail=True)

# From least to most evidence; equal pairs keep whichever row came first.
LADDER = [UNKNOWN_END, MISSED, VOICEMAIL, ANSWERED]


async def stored(store: Store) -> list[tuple[str, str, int | None]]:
    async with store.pool.acquire() as conn:
        rows = await conn.fetch("SELECT outcome, reason, gap_id FROM calls")
    return [(r["outcome"], r["reason"], r["gap_id"]) for r in rows]


async def a_gap(store: Store) -> int:
    return await store.record_gap(
        "pbx", "b", T0 - timedelta(minutes=5), T0 + timedelta(minutes=5), "startup"
    )


@pytest.mark.parametrize(
    ("first", "second"),
    list(itertools.permutations(range(len(LADDER)), 2)),
    ids=lambda i: LADDER[i].reason,
)
async def test_more_evidence_wins_in_either_order(store: Store, first: int, second: int) -> None:
    assert await store.record_call("pbx", LADDER[first]) is True
    upgraded = await store.record_call("pbx", LADDER[second])
    winner = LADDER[max(first, second)]
    assert upgraded is (second > first)
    assert await stored(store) == [(winner.outcome, winner.reason, None)]


async def test_equal_evidence_keeps_the_first_row(store: Store) -> None:
    gap = await a_gap(store)
    await store.record_call("pbx", MISSED)
    # The live listener's reason stays; a reconciliation adds nothing it did not know.
    assert await store.record_call("pbx", RECONCILED, gap) is False
    assert await stored(store) == [("missed", "hangup_while_ringing", None)]


async def test_a_reconciled_end_replaces_unknown_end_and_names_its_gap(store: Store) -> None:
    gap = await a_gap(store)
    await store.record_call("pbx", UNKNOWN_END)
    assert await store.record_call("pbx", RECONCILED, gap) is True
    assert await stored(store) == [("missed", "reconciled_voicemail_unknown", gap)]
    # A listener that saw the voicemail left wins over the reconciliation's doubt.
    assert await store.record_call("pbx", VOICEMAIL) is True
    assert await stored(store) == [("voicemail", "voicemail_left", None)]


async def test_concurrent_writers_leave_one_row_with_the_best_decision(store: Store) -> None:
    calls = [replace(c, linkedid=f"1764439200.{i}") for i in range(40) for c in LADDER]
    # Two listeners writing the same calls at once, in opposite orders.
    await asyncio.gather(
        *(store.record_call("pbx", c) for c in calls),
        *(store.record_call("pbx", c) for c in reversed(calls)),
    )
    async with store.pool.acquire() as conn:
        rows = await conn.fetch("SELECT linkedid, outcome FROM calls")
    assert len(rows) == 40
    assert {r["outcome"] for r in rows} == {"answered"}
