"""How database errors enter our tree (:class:`StoreError` and below), whichever client raised
them: asyncpg, or the classic AGI's small synchronous client (:mod:`callback_desk.core.pgwire`).

Both carry the server's SQLSTATE, so one table decides: 57014 (statement_timeout) is an answer
that came too late, 42P01/42703 a schema that is missing or old, class 08 and 57P01/57P03 (and
any socket error) a database out of reach. This module imports no client: asyncpg's classes are
looked at only while one of its exceptions is being mapped, when asyncpg is loaded already.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from callback_desk.core.exceptions import (
    CallbackDeskError,
    SchemaError,
    StoreError,
    StoreTimeout,
    StoreUnavailable,
)
from callback_desk.core.pgwire import ServerError

_SCHEMA = frozenset({"42P01", "42703"})  # undefined_table, undefined_column
_UNREACHABLE = frozenset({"57P01", "57P03"})  # admin_shutdown, cannot_connect_now


@asynccontextmanager
async def mapped_errors(what: str) -> AsyncIterator[None]:
    """Translate a database client's exceptions into our tree at the boundary."""
    try:
        yield
    except CallbackDeskError:
        raise
    except Exception as exc:
        error = mapped(what, exc)
        if error is None:
            raise
        # A schema or reachability problem keeps its cause (the CLI prints causes); the server's
        # own message may quote row values and is never chained (see describe).
        raise error from (exc if isinstance(error, SchemaError | StoreUnavailable) else None)


def mapped(what: str, exc: BaseException) -> StoreError | None:
    """Our error for a client's exception; None for one that is not the database's."""
    if isinstance(exc, OSError | TimeoutError):
        return StoreUnavailable(f"{what}: the database is unreachable ({exc})")
    if type(exc).__module__.partition(".")[0] == "asyncpg":
        import asyncpg  # loaded already: it raised this

        if isinstance(exc, asyncpg.InterfaceError):
            return StoreUnavailable(f"{what}: the database is unreachable ({exc})")
        if not isinstance(exc, asyncpg.PostgresError):
            return None
    elif not isinstance(exc, ServerError):
        return None
    state = str(getattr(exc, "sqlstate", "") or "")
    if state == "57014":
        return StoreTimeout(f"{what}: the database did not finish in time")
    if state in _SCHEMA:
        return SchemaError(
            f"{what}: the database schema is missing or old; run 'callback-desk migrate'"
        )
    if state.startswith("08") or state in _UNREACHABLE:
        return StoreUnavailable(f"{what}: the database is unreachable ({describe(exc)})")
    return StoreError(f"{what}: {describe(exc)}")


def describe(exc: BaseException) -> str:
    """``CheckViolationError (SQLSTATE 23514) on calls, constraint calls_reason_check``: the
    error's kind and the schema objects it names, never the server's message or DETAIL (they
    may quote row values: "Failing row contains (...)" with a caller's number and name)."""
    text = f"{type(exc).__name__} (SQLSTATE {getattr(exc, 'sqlstate', '?')})"
    table = getattr(exc, "table_name", None)
    constraint = getattr(exc, "constraint_name", None)
    if table:
        text += f" on {table}"
    if constraint:
        text += f", constraint {constraint}"
    return text
