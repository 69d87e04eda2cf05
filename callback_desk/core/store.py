"""PostgreSQL access (asyncpg). Every statement lives in ``sql/``; values are always bound."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from functools import lru_cache
from typing import Any

import asyncpg

from callback_desk.core import migrate as migrations
from callback_desk.core import roles
from callback_desk.core.config import DatabaseSettings
from callback_desk.core.connection import COMMAND_TIMEOUT, SERVER_SETTINGS
from callback_desk.core.dberrors import Target, connection_error, mapped_errors
from callback_desk.core.model import CallRecord
from callback_desk.core.sqlfiles import Migration, queries

logger = logging.getLogger(__name__)


async def _keep(_conn: asyncpg.Connection) -> None:
    """Store.open(stateless=True): nothing to reset (asyncpg has rolled back any transaction)."""


async def connect(settings: DatabaseSettings, **kwargs: Any) -> asyncpg.Connection:
    """One connection; its failure in words (``dberrors.connection_error``)."""
    dsn = settings.dsn.reveal()
    try:
        return await asyncpg.connect(dsn, timeout=settings.connect_timeout, **kwargs)
    except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        raise connection_error(exc, Target.of(dsn), settings.connect_timeout) from None


class Store:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool
        self._q = queries()

    @classmethod
    async def open(
        cls, settings: DatabaseSettings, *, max_size: int = 4, stateless: bool = False
    ) -> Store:
        """A pool of at most ``max_size`` connections. ``stateless``: the caller's statements
        leave no session state behind (no SET, LISTEN, cursors or advisory locks), so a
        connection going back to the pool skips asyncpg's reset query, a round trip on every
        query (the desk phone's menu: bench/agi.py). An open transaction is still rolled back."""

        async def connected(*_args: Any, **kwargs: Any) -> asyncpg.Connection:
            # Every connection the pool makes, whenever it makes it (min_size=0: at first use),
            # fails in words that name the database and the server.
            kwargs.pop("timeout", None)
            return await connect(settings, **kwargs)

        async with mapped_errors("connecting to PostgreSQL"):
            pool = await asyncpg.create_pool(
                settings.dsn.reveal(),
                min_size=0,
                max_size=max_size,
                timeout=settings.connect_timeout,
                command_timeout=COMMAND_TIMEOUT,
                server_settings=SERVER_SETTINGS,
                reset=_keep if stateless else None,
                connect=connected,
            )
        return cls(pool)

    async def close(self) -> None:
        await self._pool.close()

    @property
    def pool(self) -> asyncpg.Pool:
        return self._pool

    async def migrate(self) -> list[Migration]:
        async with mapped_errors("migrating"), self._pool.acquire() as conn:
            return await migrations.migrate(conn)

    async def grant(self) -> None:
        """Create the component roles and apply ``sql/grants.sql`` (``callback-desk grant``)."""
        async with mapped_errors("granting"), self._pool.acquire() as conn:
            await roles.grant(conn)

    async def check_schema(self) -> None:
        async with mapped_errors("checking the schema"), self._pool.acquire() as conn:
            await migrations.check_current(conn)

    async def record_calls(
        self, pbx: str, calls: Sequence[CallRecord], gap_id: int | None = None
    ) -> int:
        """Store decided calls in one statement; returns how many rows it inserted or upgraded.

        A call whose (pbx, linkedid) already holds as much evidence writes nothing. ``calls``
        must not hold one linkedid twice. ``gap_id``: the listener gap reconciled calls came
        from (None for calls seen live).
        """
        if not calls:
            return 0
        async with mapped_errors("recording calls"):
            rows = await self._pool.fetch(self._q["insert_call"], pbx, *_columns(calls), gap_id)
        return len(rows)

    async def record_call(self, pbx: str, call: CallRecord, gap_id: int | None = None) -> bool:
        """Store one decided call; False when (pbx, linkedid) already holds as much evidence."""
        return await self.record_calls(pbx, [call], gap_id) == 1

    async def beat_heart(self, pbx: str, listener: str, at: datetime) -> None:
        """Note that ``listener`` was logged in to the PBX's AMI at ``at``."""
        async with mapped_errors("recording the listener's heartbeat"):
            await self._pool.execute(self._q["beat_heart"], pbx, listener, at)

    async def last_heartbeat_of(self, pbx: str, listener: str) -> datetime | None:
        """The last moment ``listener`` was logged in to ``pbx``'s AMI (None: never)."""
        async with mapped_errors("reading the last heartbeat"):
            value = await self._pool.fetchval(self._q["last_heartbeat"], pbx, listener)
        return value if isinstance(value, datetime) else None

    async def record_gap(
        self, pbx: str, listener: str, started_at: datetime, ended_at: datetime, source: str
    ) -> int:
        async with mapped_errors("recording a listener gap"):
            gap_id = await self._pool.fetchval(
                self._q["insert_gap"], pbx, listener, started_at, ended_at, source
            )
        return int(gap_id)

    async def fill_gap(
        self, gap_id: int, filled_by: str, rows_added: int, detail: str, at: datetime
    ) -> None:
        async with mapped_errors("recording how a gap was filled"):
            await self._pool.execute(self._q["fill_gap"], gap_id, filled_by, rows_added, detail, at)

    async def purge(self, before: datetime) -> int:
        """Delete the calls that started before ``before`` (at least a day ago)."""
        async with mapped_errors("purging old calls"):
            gone: int = await self._pool.fetchval(self._q["purge_calls"], before)
        return gone

    async def close_stale_attempts(self, before: datetime) -> int:
        """Mark callback attempts still open since before ``before`` as UNKNOWN."""
        async with mapped_errors("closing stale callback attempts"):
            closed: int = await self._pool.fetchval(self._q["close_stale_attempts"], before)
        return closed


def storable(text: str) -> str:
    """``text`` as PostgreSQL can hold it: a text column refuses NUL, so NUL becomes U+FFFD.

    Caller ID is attacker-controlled; a NUL in it must not cost the call its row. Every other
    character is stored as received (outputs escape them).
    """
    return text.replace("\x00", "\ufffd") if "\x00" in text else text


@lru_cache(maxsize=256)
def array_literal(items: tuple[str, ...]) -> str:
    """``items`` as a PostgreSQL array literal (``{"100@phones"}``), for insert_call's rang:
    every element quoted, backslash and double quote escaped, so any text (caller-influenced
    dial strings included) reads back as itself. Cached: most calls ring the same phones."""
    quoted = (storable(i).replace("\\", "\\\\").replace('"', '\\"') for i in items)
    return "{" + ",".join(f'"{q}"' for q in quoted) + "}"


def _columns(calls: Sequence[CallRecord]) -> list[list[object]]:
    """One list per column of ``insert_call`` ($2...$15), in the calls' order."""
    rows = [
        (
            storable(c.linkedid),
            c.direction,
            c.outcome,
            c.reason,
            storable(c.number),
            storable(c.name),
            storable(c.number_key) if c.number_key is not None else None,
            c.callable,
            storable(c.did),
            array_literal(tuple(c.rang)),
            c.started_at,
            c.ended_at,
            c.ring_seconds,
            c.reached_voicemail,
        )
        for c in calls
    ]
    # Rows to columns in one C-level pass (the listener writes a thousand calls a statement).
    if not rows:
        return [[] for _ in range(14)]
    return [list(column) for column in zip(*rows, strict=True)]
