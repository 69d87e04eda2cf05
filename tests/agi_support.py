"""Shared by the AGI tests: a missed call in the real database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from callback_desk.core.model import CallRecord, Direction, Outcome, Reason
from callback_desk.core.store import Store


async def add_missed(
    store: Store,
    number: str,
    minutes_ago: float,
    did: str = "2000",
    rang: tuple[str, ...] = ("100",),
    callable_: bool = True,
) -> int:
    started = datetime.now(UTC) - timedelta(minutes=minutes_ago)
    linkedid = f"{number}-{minutes_ago}"
    await store.record_call(
        "pbx",
        CallRecord(
            linkedid=linkedid,
            direction=Direction.INBOUND,
            outcome=Outcome.MISSED,
            reason=Reason.NO_ANSWER,
            number=number.removeprefix("+1"),
            name="Caller",
            number_key=number if callable_ else None,
            callable=callable_,
            did=did,
            rang=rang,
            started_at=started,
            ended_at=started + timedelta(seconds=10),
            ring_seconds=8.0,
            reached_voicemail=False,
        ),
    )
    row = await store.pool.fetchval("SELECT id FROM calls WHERE linkedid = $1", linkedid)
    return int(row)
