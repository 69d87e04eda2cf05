"""Database access for callbacks: who is waiting for a desk phone, attempts and dispositions.

Who is waiting is :func:`callback_desk.core.awaiting.awaiting` (the one definition, shared with
the report and the inbox); the rest lives in ``sql/queries_callbacks.sql`` (names prefixed
``cb_``). Errors come out as our :mod:`callback_desk.core.exceptions` tree via
:func:`callback_desk.core.dberrors.mapped_errors`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from functools import partial

from callback_desk.core.awaiting import menu_count, menu_rows
from callback_desk.core.connection import Queryable
from callback_desk.core.dberrors import mapped_errors
from callback_desk.core.scope import ALL_LINES, in_scope
from callback_desk.core.sqlfiles import queries
from callback_desk.core.typeshim import TYPE_CHECKING, Generic, NamedTuple, TypeVar

if TYPE_CHECKING:
    # Loaded where a callback is recorded, not at import: the model's CallRecord is a dataclass,
    # and the dataclasses module is not what the classic AGI's first prompt waits for
    # (callback_desk.core.record).
    from callback_desk.core.model import Disposition

__all__ = ["ALL_LINES", "Callbacks", "MissedCall", "WaitingCaller"]

T = TypeVar("T")


# NamedTuples, not dataclasses: a dataclass costs the classic AGI's start ~0.7 ms to create
# (its methods are compiled at import), a NamedTuple ~0.1 ms; both are typed and immutable.
class WaitingCaller(NamedTuple):
    """One caller a desk phone may call back (their latest missed call and how many)."""

    call_id: int
    number_key: str
    number: str
    calls: int
    last_at: datetime


class MissedCall(NamedTuple):
    """The missed call a callback dials (``dial ID EXT``)."""

    id: int
    number: str
    number_key: str | None
    callable: bool
    did: str
    extensions: tuple[str, ...]  # the extensions it rang (calls.extensions, normalised in SQL)
    started_at: datetime
    returned_at: datetime | None

    def heard_by(self, scope: Sequence[str]) -> bool:
        """True when a desk phone with this scope (lines it hears) may see the call."""
        return in_scope(scope, self.did, self.extensions)


class Deferred(Generic[T]):
    """An answer read when it is first asked for (:class:`agi.handlers.Pending`): nothing runs
    before :meth:`result`, so there is nothing to stop."""

    def __init__(self, read: Callable[[], Awaitable[T]]) -> None:
        self._read = read

    async def result(self) -> T:
        return await self._read()

    async def close(self) -> None:
        return None


class Callbacks:
    def __init__(self, pool: Queryable) -> None:
        self._pool = pool
        self._q = queries()

    async def waiting_count(self, scope: Sequence[str], since: datetime, until: datetime) -> int:
        """How many callers :meth:`waiting` lists for the same arguments."""
        return await menu_count(self._pool, scope=scope, now=until, lookback=until - since)

    def count_soon(self, scope: Sequence[str], since: datetime, until: datetime) -> Deferred[int]:
        """:meth:`waiting_count`, read when the menu asks for it (see :meth:`waiting_soon`)."""
        return Deferred(partial(self.waiting_count, scope, since, until))

    def waiting_soon(
        self, scope: Sequence[str], since: datetime, until: datetime
    ) -> Deferred[list[WaitingCaller]]:
        """:meth:`waiting`, read when the menu asks for it: over the classic AGI's one connection
        a statement runs only while the session waits for it, so there is no sooner. On the
        FastAGI server's loop :class:`agi.runtime.TimedDesk` starts it at once."""
        return Deferred(partial(self.waiting, scope, since, until))

    async def waiting(
        self, scope: Sequence[str], since: datetime, until: datetime
    ) -> list[WaitingCaller]:
        """Callers awaiting a callback in ``[since, until)`` whom a desk phone may dial."""
        # The rows, not AwaitingCaller, and only what the menu reads out (awaiting_menu): a
        # desk hearing every line has thousands of callers (bench/year.py), and building the
        # rest was a tenth of a FastAGI session's CPU (bench/agi.py, cProfile).
        rows = await menu_rows(self._pool, scope=scope, now=until, lookback=until - since)
        return [
            WaitingCaller(r["last_call_id"], r["number_key"], r["number"], r["calls"], r["last_at"])
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
            extensions=tuple(r["extensions"]),
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
        # DIALSTATUS comes from the channel: anything Dial() does not document is stored as
        # UNKNOWN (the column's CHECK constraint admits only the documented values).
        from callback_desk.core.model import DialStatus  # lazy: see the imports

        status = DialStatus.parse(dial_status)
        async with mapped_errors("finishing a callback attempt"):
            done = await self._pool.fetchval(
                self._q["cb_finish_attempt"], attempt_id, status.value, max(talk_seconds, 0)
            )
        return done is not None

    async def discard_attempt(self, attempt_id: int) -> bool:
        """Withdraw an attempt whose Dial() never ran (the desk hung up just before)."""
        async with mapped_errors("withdrawing a callback attempt"):
            gone = await self._pool.fetchval(self._q["cb_discard_attempt"], attempt_id)
        return gone is not None

    async def dispose(
        self, call_id: int, number_key: str | None, disposition: Disposition, extension: str
    ) -> int:
        from callback_desk.core.model import Disposition  # lazy: see the imports

        async with mapped_errors("recording a disposition"):
            new_id: int = await self._pool.fetchval(
                self._q["cb_dispose"],
                call_id,
                number_key,
                Disposition(disposition).value,
                extension,
            )
        return new_id
