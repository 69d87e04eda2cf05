"""Database access for callbacks: who is waiting for a desk phone, attempts and dispositions.

Statements live in ``sql/queries_callbacks.sql`` (names prefixed ``cb_``). Errors come out as
our :mod:`callback_desk.core.exceptions` tree via :func:`callback_desk.core.store.mapped_errors`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import asyncpg

from callback_desk.core.sqlfiles import queries
from callback_desk.core.store import mapped_errors

Disposition = Literal["handled", "never"]
ALL_LINES = "*"


@dataclass(frozen=True, slots=True)
class WaitingCaller:
    """One caller a desk phone may call back (their latest missed call and how many)."""

    call_id: int
    number_key: str
    number: str
    calls: int
    last_at: datetime


@dataclass(frozen=True, slots=True)
class MissedCall:
    id: int
    number: str
    number_key: str | None
    callable: bool
    did: str
    rang: tuple[str, ...]
    started_at: datetime
    returned_at: datetime | None

    def heard_by(self, scope: Sequence[str]) -> bool:
        """True when a desk phone with this scope (lines it hears) may see the call."""
        return ALL_LINES in scope or self.did in scope or any(x in scope for x in self.rang)


@dataclass(frozen=True, slots=True)
class Attempt:
    id: int
    call_id: int
    extension: str
    channel_id: str | None
    started_at: datetime
    ended_at: datetime | None
    dial_status: str | None
    talk_seconds: int | None


class Callbacks:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool
        self._q = queries()

    async def waiting(
        self, scope: Sequence[str], since: datetime, until: datetime
    ) -> list[WaitingCaller]:
        async with mapped_errors("reading callers awaiting a callback"):
            rows = await self._pool.fetch(
                self._q["cb_waiting"],
                since,
                until,
                ALL_LINES in scope,
                [x for x in scope if x != ALL_LINES],
            )
        return [
            WaitingCaller(r["last_id"], r["number_key"], r["number"], r["calls"], r["last_at"])
            for r in rows
        ]

    async def missed_call(self, call_id: int) -> MissedCall | None:
        async with mapped_errors("reading a missed call"):
            r = await self._pool.fetchrow(self._q["cb_missed_call"], call_id)
        if r is None:
            return None
        return MissedCall(
            id=r["id"],
            number=r["number"],
            number_key=r["number_key"],
            callable=r["callable"],
            did=r["did"],
            rang=tuple(r["rang"]),
            started_at=r["started_at"],
            returned_at=r["returned_at"],
        )

    async def start_attempt(self, call_id: int, extension: str, channel_id: str | None) -> int:
        async with mapped_errors("recording a callback attempt"):
            attempt_id: int = await self._pool.fetchval(
                self._q["cb_start_attempt"], call_id, extension, channel_id
            )
        return attempt_id

    async def finish_attempt(self, attempt_id: int, dial_status: str, talk_seconds: int) -> bool:
        async with mapped_errors("finishing a callback attempt"):
            done = await self._pool.fetchval(
                self._q["cb_finish_attempt"], attempt_id, dial_status, max(talk_seconds, 0)
            )
        return done is not None

    async def discard_attempt(self, attempt_id: int) -> bool:
        """Withdraw an attempt whose Dial() never ran (the desk hung up just before)."""
        async with mapped_errors("withdrawing a callback attempt"):
            gone = await self._pool.fetchval(self._q["cb_discard_attempt"], attempt_id)
        return gone is not None

    async def attempts(self, call_id: int) -> list[Attempt]:
        async with mapped_errors("reading callback attempts"):
            rows = await self._pool.fetch(self._q["cb_attempts"], call_id)
        return [Attempt(**dict(r)) for r in rows]

    async def dispose(
        self, call_id: int, number_key: str | None, disposition: Disposition, extension: str
    ) -> int:
        async with mapped_errors("recording a disposition"):
            new_id: int = await self._pool.fetchval(
                self._q["cb_dispose"], call_id, number_key, disposition, extension
            )
        return new_id
