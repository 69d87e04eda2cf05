"""The classic AGI's login to PostgreSQL, started before its settings are checked.

Asterisk starts ``python -m agi`` for every ``*47``, and the desk hears nothing until the
process has said how many callers wait. Logging in (PostgreSQL forks a backend, then a few
round trips) is mostly waiting, and in a thread it overlaps what the process does meanwhile;
the imports and checks of the settings (zone rules, phone rules, URL parsing) are much of the
start. So the login starts first: the address is read from the settings file's snapshot
(:mod:`callback_desk.core.snapshot`), environment first as the settings read it, and the
connection opens in a thread (:class:`callback_desk.core.overlap.Overlapped`) while the settings
are loaded and checked as always.

It is a guess until they are: the session takes the connection only when the checked settings
name the same DSN and the same ``[agi] db_timeout`` (:meth:`EarlyLogin.take`); otherwise it is
closed and the session logs in as it always did. Settings that do not check out end the process
with their one line and exit code, as before: nothing is sent to Asterisk first.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from functools import partial

from callback_desk.core import pgwire, snapshot
from callback_desk.core.exceptions import StoreError
from callback_desk.core.overlap import Overlapped
from callback_desk.core.typeshim import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Any

# [agi] db_timeout's default (agi.config): the seconds each step of the login, and then each
# statement, may take.
DB_TIMEOUT = 3.0
DB_TIMEOUT_MIN = 0.5  # the least the settings accept: below it they fail, and no login is needed


class EarlyLogin:
    """A login under way to the DSN the settings file's snapshot names."""

    def __init__(self, dsn: str, timeout: float, connecting: Overlapped[pgwire.Connection]):
        self._dsn = dsn
        self._timeout = timeout
        self._connecting: Overlapped[pgwire.Connection] | None = connecting

    def take(self, dsn: str, timeout: float) -> Overlapped[pgwire.Connection] | None:
        """The login, when the checked settings ask for this one; else None (and it is
        dropped). Taken once."""
        connecting, self._connecting = self._connecting, None
        if connecting is not None and (dsn, timeout) == (self._dsn, self._timeout):
            return connecting
        if connecting is not None:
            _drop(connecting)
        return None

    def drop(self) -> None:
        """Close the connection if it was not taken (nothing when it was)."""
        connecting, self._connecting = self._connecting, None
        if connecting is not None:
            _drop(connecting)


def _drop(connecting: Overlapped[pgwire.Connection]) -> None:
    # Without waiting for a login still under way (a database that does not answer would hold
    # the process up to its timeout): the process's end closes that socket.
    if not connecting.done():
        return
    try:
        connecting.result().close()
    except (OSError, ValueError, pgwire.ServerError, pgwire.Unsupported, StoreError):
        return  # it failed: there is nothing to close


def start(config: str | None, environ: Mapping[str, str] = os.environ) -> EarlyLogin | None:
    """Start logging in to the database the snapshot of the settings file names; None when
    there is no snapshot to trust or its DSN is one the small client leaves to asyncpg."""
    where, _asked = snapshot.locate(config, environ)
    tables = snapshot.tables_of(where)
    if tables is None:
        return None
    dsn = _raw(tables, environ, "database", "dsn")
    raw_timeout = _raw(tables, environ, "agi", "db_timeout")
    if not isinstance(dsn, str) or isinstance(raw_timeout, bool):
        return None  # the checks will say what is wrong
    try:
        timeout = DB_TIMEOUT if raw_timeout is None else float(raw_timeout)
        parsed = pgwire.parse_dsn(dsn, environ)
    except (TypeError, ValueError, pgwire.Unsupported):
        return None
    if not math.isfinite(timeout) or timeout < DB_TIMEOUT_MIN:
        return None
    return EarlyLogin(dsn, timeout, logging_in(parsed, timeout))


def logging_in(dsn: pgwire.Dsn, timeout: float) -> Overlapped[pgwire.Connection]:
    """The login in a daemon thread: it mostly waits for PostgreSQL (its fork, the round
    trips), so it overlaps what the process does meanwhile."""
    return Overlapped(partial(pgwire.Connection.open, dsn, timeout), name="pg-connect", daemon=True)


def _raw(tables: Mapping[str, Any], environ: Mapping[str, str], section: str, key: str) -> Any:
    """``[section] key`` as :class:`callback_desk.core.config.Section` reads it first (None
    when neither the environment nor the file has it)."""
    table = tables.get(section)
    return snapshot.env_first(table if isinstance(table, dict) else {}, environ, section, key)[0]
