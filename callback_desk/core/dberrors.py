"""How database errors enter our tree (:class:`StoreError` and below), whichever client raised
them: asyncpg, or the classic AGI's small synchronous client (:mod:`callback_desk.core.pgwire`).

Both carry the server's SQLSTATE, so one table decides: 57014 (statement_timeout) is an answer
that came too late, 42P01/42703 a schema that is missing or old, class 08 and 57P01/57P03 (and
any socket error) a database out of reach. This module imports no client: asyncpg's classes are
looked at only while one of its exceptions is being mapped, when asyncpg is loaded already.
"""

from __future__ import annotations

import re

# gaierror is _socket's: see callback_desk.core.pgwire for why not the public module.
from _socket import gaierror
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import parse_qs, unquote, urlsplit

from callback_desk.core.exceptions import (
    CallbackDeskError,
    SchemaError,
    StoreError,
    StoreTimeout,
    StoreUnavailable,
    os_reason,
)
from callback_desk.core.pgwire import ServerError
from callback_desk.core.typeshim import NamedTuple

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


# What a refusal means, in words, by SQLSTATE. The server's own text is never shown here: it may
# quote row values.
_MEANINGS = {
    "23505": "a row with the same key already exists",
    "23503": "a row it refers to does not exist",
    "23514": "a value breaks one of the table's rules",
    "23502": "a required value is missing",
    "22001": "a value is too long",
    "42501": "permission denied (does this database role have its grants? callback-desk grant)",
    "25006": "the database is read-only",
    "40001": "a concurrent change conflicted; try again",
    "40P01": "a concurrent change conflicted (deadlock); try again",
    "53100": "the database server's disk is full",
    "53200": "the database server is out of memory",
    "53300": "the database server has too many connections",
    "57014": "the statement was cancelled",
}


def describe(exc: BaseException) -> str:
    """``a value breaks one of the table's rules on calls, constraint calls_reason_check
    (CheckViolationError, SQLSTATE 23514)``: the refusal in words, the schema objects it names
    and its kind, never the server's message or DETAIL (they may quote row values: "Failing row
    contains (...)" with a caller's number and name)."""
    state = str(getattr(exc, "sqlstate", "") or "")
    name = re.sub(r"(?<!^)(?=[A-Z])", " ", type(exc).__name__.removesuffix("Error")).lower()
    text = _MEANINGS.get(state, name)
    table = getattr(exc, "table_name", None)
    constraint = getattr(exc, "constraint_name", None)
    if table:
        text += f" on {table}"
    if constraint:
        text += f", constraint {constraint}"
    return f"{text} ({type(exc).__name__}, SQLSTATE {state or '?'})"


# -- connecting ----------------------------------------------------------------------------------


class Target(NamedTuple):  # not a dataclass: see callback_desk.core.awaiting
    """Where a DSN points, for messages (never its password)."""

    host: str
    port: str
    database: str
    user: str

    @classmethod
    def of(cls, dsn: str) -> Target:
        parts = urlsplit(dsn)
        query = parse_qs(parts.query)
        host = unquote(parts.hostname or "") or query.get("host", [""])[0]
        port = str(parts.port or "") if parts.hostname else ""
        user = unquote(parts.username or "") or query.get("user", [""])[0]
        database = unquote(parts.path.lstrip("/")) or query.get("dbname", [""])[0] or user
        return cls(host or "localhost", port or query.get("port", ["5432"])[0], database, user)

    def __str__(self) -> str:
        return f"socket {self.host}" if self.host.startswith("/") else f"{self.host}:{self.port}"


def connection_error(exc: BaseException, target: Target, timeout: float) -> StoreError:
    """Why connecting failed, in words: what the user can check or fix ("database
    callback_desk does not exist on 127.0.0.1:5432"). The server's messages at this stage name
    only the database, the role or the client's address (no row values), so they are quoted."""
    state = str(getattr(exc, "sqlstate", "") or "")
    if state == "3D000":  # invalid_catalog_name
        return StoreUnavailable(f"database {target.database} does not exist on {target}")
    if state in ("28P01", "28000"):  # invalid_password, invalid_authorization_specification
        return StoreUnavailable(f"{exc} (connecting to {target})")
    if state in ("57P03", "53300"):  # cannot_connect_now, too_many_connections
        return StoreUnavailable(f"{target}: {exc}")
    if isinstance(exc, gaierror):
        return StoreUnavailable(f"the database host {target.host} is unknown ({os_reason(exc)})")
    if isinstance(exc, TimeoutError):
        return StoreUnavailable(f"no answer from the database at {target} within {timeout:g} s")
    if isinstance(exc, OSError):
        return StoreUnavailable(
            f"cannot connect to the database at {target}: {os_reason(exc)} "
            "(is PostgreSQL running there, and listening on that address?)"
        )
    if state:
        return StoreUnavailable(f"connecting to {target}: {describe(exc)}")
    return StoreUnavailable(f"connecting to {target}: {exc}")
