"""Read the PBX's own call records (CEL or CDR) for a time window, from PostgreSQL or MySQL.

Asterisk's ``cel_pgsql``/``cdr_pgsql`` write to PostgreSQL (read with asyncpg); FreePBX keeps
``asteriskcdrdb.cel``/``cdr`` on MariaDB/MySQL, written by ``cel_odbc``/``cdr_adaptive_odbc``
(read with asyncmy). Both schemas share the column names used here.

Times: Asterisk writes ``eventtime``/``calldate`` as a local time without zone unless told
``usegmtime``; naive values are read in ``[reconcile] timezone``. Table names come from the
configuration and go into SQL text, so they are checked against an identifier pattern first
(values are always bound).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol
from urllib.parse import parse_qs, unquote, urlsplit
from zoneinfo import ZoneInfo

import asyncpg

from ami_listener.cdr import CdrRow, CelRow
from callback_desk.core.config import Secret
from callback_desk.core.exceptions import ConfigError, RecordsUnavailable

logger = logging.getLogger(__name__)

Kind = Literal["cel", "cdr"]
Engine = Literal["postgresql", "mysql"]

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}(\.[A-Za-z_][A-Za-z0-9_]{0,62})?$")

_CEL_COLUMNS = (
    "eventtype, eventtime, uniqueid, linkedid, channame, context, exten, cid_num, cid_name, "
    "appname, appdata"
)
# CEL's "extra" (JSON: bridge id, dial status) is column extra for cel_pgsql and eventextra in
# FreePBX's table (cdr module install.php); cel_odbc writes either name.
DEFAULT_EXTRA_COLUMN = {"postgresql": "extra", "mysql": "eventextra"}
_CDR_COLUMNS = (
    "calldate, duration, clid, src, dst, dcontext, channel, dstchannel, lastapp, lastdata, "
    "disposition, uniqueid, linkedid"
)
# FreePBX's cdr has a did column (CDR(did), set by every inbound route); Asterisk's own schema
# has none.
DEFAULT_DID_COLUMN = {"postgresql": "", "mysql": "did"}


def check_table(name: str, key: str) -> str:
    """A table name safe to put into SQL text, or a ConfigError naming the key."""
    if not _IDENTIFIER.match(name):
        raise ConfigError(
            f"[reconcile] {key} = {name[:40]!r} is not a table name (letters, digits, _; "
            "optionally schema.table)"
        )
    return name


def check_dsn(engine: Engine, dsn: Secret) -> None:
    """Raise ConfigError (never showing the DSN: it holds a password) unless it fits ``engine``."""
    if engine == "mysql":
        _mysql_options(dsn)
    elif urlsplit(dsn.reveal()).scheme not in ("postgres", "postgresql"):
        raise ConfigError(
            "[reconcile] dsn must look like postgresql://user:password@host:5432/asterisk"
        )


def _select(kind: Kind, table: str, extra: str, did: str, placeholders: tuple[str, str]) -> str:
    """Every row of each call with at least one row in the window, oldest first."""
    low, high = placeholders
    if kind == "cel":
        return (
            f"SELECT {_CEL_COLUMNS}, {extra} FROM {table} WHERE linkedid IN "
            f"(SELECT linkedid FROM {table} WHERE eventtime >= {low} AND eventtime <= {high}) "
            "ORDER BY eventtime"
        )
    # A CDR row is written when its leg ends and dated when it began: a call that began before
    # the window and ended in it has its calldate before the window, hence the reader's lead.
    did_value = did or "''"
    return (
        f"SELECT {_CDR_COLUMNS}, {did_value} FROM {table} WHERE linkedid IN "
        f"(SELECT linkedid FROM {table} WHERE calldate >= {low} AND calldate <= {high}) "
        "ORDER BY calldate"
    )


class Records(Protocol):
    kind: Kind

    async def read(self, start: datetime, end: datetime) -> Sequence[CelRow] | Sequence[CdrRow]: ...


class SqlRecords:
    """CEL or CDR rows from one table of the PBX's database."""

    def __init__(
        self,
        engine: Engine,
        dsn: Secret,
        kind: Kind,
        table: str,
        timezone: ZoneInfo,
        lead: timedelta,
        extra_column: str = "",
        did_column: str | None = None,
        connect_timeout: float = 10.0,
    ) -> None:
        self.engine = engine
        self.kind = kind
        self._dsn = dsn
        self._table = table
        self._tz = timezone
        self._lead = lead  # CDR: how long before the window a call read may have begun
        self._timeout = connect_timeout
        self._extra = extra_column or DEFAULT_EXTRA_COLUMN[engine]
        self._did = DEFAULT_DID_COLUMN[engine] if did_column is None else did_column

    async def read(self, start: datetime, end: datetime) -> Sequence[CelRow] | Sequence[CdrRow]:
        low = start - self._lead if self.kind == "cdr" else start
        # Bound as naive times in the table's zone: columns are 'timestamp'/'datetime'.
        params = (self._naive(low), self._naive(end))
        if self.engine == "postgresql":
            rows = await self._read_pg(params)
        else:
            rows = await self._read_mysql(params)
        if self.kind == "cel":
            return [self._cel(row) for row in rows]
        return [self._cdr(row) for row in rows]

    def _naive(self, at: datetime) -> datetime:
        return at.astimezone(self._tz).replace(tzinfo=None)

    def _aware(self, value: Any) -> datetime:
        if not isinstance(value, datetime):
            raise RecordsUnavailable(f"{self.kind} table {self._table}: a time is {value!r}")
        return value.replace(tzinfo=self._tz) if value.tzinfo is None else value

    async def _read_pg(self, params: tuple[datetime, datetime]) -> list[Sequence[Any]]:
        sql = _select(
            self.kind, self._table, self._extra, self._did, ("$1::timestamp", "$2::timestamp")
        )
        try:
            # The session's zone makes a timestamptz column compare in [reconcile] timezone too.
            conn = await asyncpg.connect(
                self._dsn.reveal(),
                timeout=self._timeout,
                server_settings={"timezone": self._tz.key},
            )
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            raise RecordsUnavailable(f"cannot reach the PBX's PostgreSQL: {exc}") from exc
        try:
            records = await conn.fetch(sql, *params, timeout=60)
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            raise RecordsUnavailable(f"reading {self.kind} table {self._table}: {exc}") from exc
        finally:
            await conn.close()
        return [tuple(r.values()) for r in records]

    async def _read_mysql(self, params: tuple[datetime, datetime]) -> list[Sequence[Any]]:
        import asyncmy  # only a FreePBX source needs it
        from asyncmy.errors import MySQLError

        sql = _select(self.kind, self._table, self._extra, self._did, ("%s", "%s"))
        options = _mysql_options(self._dsn)
        try:
            conn = await asyncmy.connect(connect_timeout=self._timeout, **options)
        except (OSError, TimeoutError, MySQLError) as exc:
            raise RecordsUnavailable(f"cannot reach the PBX's MySQL: {exc}") from exc
        try:
            async with conn.cursor() as cursor:
                await cursor.execute(sql, params)
                fetched = await cursor.fetchall()
        except (OSError, TimeoutError, MySQLError) as exc:
            raise RecordsUnavailable(f"reading {self.kind} table {self._table}: {exc}") from exc
        finally:
            conn.close()
        return [tuple(row) for row in fetched]

    def _cel(self, row: Sequence[Any]) -> CelRow:
        event, at, uniqueid, linkedid, channel, context, exten, num, name, app, data, extra = row
        return CelRow(
            event=_text(event).upper(),
            at=self._aware(at),
            uniqueid=_text(uniqueid),
            linkedid=_text(linkedid),
            channel=_text(channel),
            context=_text(context),
            exten=_text(exten),
            cid_num=_text(num),
            cid_name=_text(name),
            app=_text(app),
            appdata=_text(data),
            extra=_text(extra),
        )

    def _cdr(self, row: Sequence[Any]) -> CdrRow:
        start, duration, clid, src, dst, dcontext, channel, dst_channel, app, data = row[:10]
        disposition, uniqueid, linkedid, did = row[10:]
        return CdrRow(
            start=self._aware(start),
            duration=float(duration or 0),
            clid=_text(clid),
            src=_text(src),
            dst=_text(dst),
            dcontext=_text(dcontext),
            channel=_text(channel),
            dstchannel=_text(dst_channel),
            lastapp=_text(app),
            lastdata=_text(data),
            disposition=_text(disposition),
            uniqueid=_text(uniqueid),
            linkedid=_text(linkedid),
            did=_text(did),
        )


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def _mysql_options(dsn: Secret) -> dict[str, Any]:
    """``mysql://user:password@host:port/database?unix_socket=/path`` -> asyncmy.connect()."""
    parts = urlsplit(dsn.reveal())
    if parts.scheme not in ("mysql", "mariadb") or not parts.path.strip("/"):
        # Never echo the DSN: it holds a password.
        raise ConfigError(
            "[reconcile] dsn must look like mysql://user:password@host:3306/asteriskcdrdb"
        )
    options: dict[str, Any] = {
        "host": parts.hostname or "localhost",
        "port": parts.port or 3306,
        "user": unquote(parts.username or ""),
        "password": unquote(parts.password or ""),
        "database": unquote(parts.path.strip("/")),
        "charset": "utf8mb4",
    }
    socket = parse_qs(parts.query).get("unix_socket")
    if socket:
        options["unix_socket"] = socket[0]
    return options
