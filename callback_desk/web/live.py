"""Live updates: PostgreSQL LISTEN on one connection, fanned out to every open event stream.

The triggers of ``sql/0004_web.sql`` notify ``callback_desk_changed`` after any write to calls,
callback attempts or dispositions, from any process (the listener, the desk-phone AGI, another
web session). The payload is only a table name: each browser then re-reads its own inbox, so
scope checks stay where the pages are rendered and no caller data crosses the channel.

A lost connection is redialled with backoff, and every stream is told "changed" once it is back
(notifications sent meanwhile are gone).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator
from typing import Any

import asyncpg

from callback_desk.core.config import Secret

logger = logging.getLogger(__name__)

CHANNEL = "callback_desk_changed"  # keep in sync with sql/0004_web.sql


class Changes:
    def __init__(self, dsn: Secret, *, reconnect_max: float = 30.0) -> None:
        self._dsn = dsn
        self._reconnect_max = reconnect_max
        self._queues: set[asyncio.Queue[None]] = set()
        self._conn: Any = None
        self._task: asyncio.Task[None] | None = None
        self._lost = asyncio.Event()
        self.connects = 0  # LISTEN connections made so far (1 + reconnects)

    @property
    def listening(self) -> bool:
        return self._conn is not None and not self._conn.is_closed()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="web-listen")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._close()

    @contextlib.contextmanager
    def subscribe(self) -> Iterator[asyncio.Queue[None]]:
        # One pending "changed" is enough: a browser re-reads everything anyway.
        queue: asyncio.Queue[None] = asyncio.Queue(maxsize=1)
        self._queues.add(queue)
        try:
            yield queue
        finally:
            self._queues.discard(queue)

    def notify_all(self) -> None:
        for queue in self._queues:
            with contextlib.suppress(asyncio.QueueFull):
                queue.put_nowait(None)

    def _notified(self, _conn: Any, _pid: int, _channel: str, _payload: str) -> None:
        self.notify_all()

    def _terminated(self, _conn: Any) -> None:
        self._lost.set()

    async def _close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None and not conn.is_closed():
            with contextlib.suppress(OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
                await conn.close(timeout=2)

    async def _run(self) -> None:
        delay = 0.5
        while True:
            try:
                self._conn = await asyncpg.connect(self._dsn.reveal(), timeout=10)
                await self._conn.add_listener(CHANNEL, self._notified)
                self._conn.add_termination_listener(self._terminated)
            except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                logger.warning(
                    "Live updates: cannot LISTEN (%s); retrying in %.0fs",
                    type(exc).__name__,
                    delay,
                    extra={"action": "web_listen_failed"},
                )
                await self._close()
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._reconnect_max)
                continue
            self.connects += 1
            logger.info("Live updates: listening", extra={"action": "web_listen"})
            delay = 0.5
            self.notify_all()  # whatever changed while we were away
            self._lost.clear()
            await self._lost.wait()
            logger.warning("Live updates: connection lost", extra={"action": "web_listen_lost"})
            await self._close()
