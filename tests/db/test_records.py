"""The PBX's own records -> decisions, read from a real MariaDB (FreePBX's asteriskcdrdb schema)
and a real PostgreSQL (cel_pgsql/cdr_pgsql schema): the rows of tests/unit/test_records.py
(what the lab PBX wrote, ``tests/data/lab_c*.csv``) stored as each database keeps them.

In MariaDB they are stored as FreePBX does: local time (America/New_York here) without zone,
CEL's extra in ``eventextra``, the inbound route's DID in ``did``.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import pytest

from callback_desk.core.config import Secret
from tests.conftest import unavailable
from tests.unit.test_records import (
    CALLS_END,
    CALLS_START,
    CDR_COLUMNS,
    CDR_EXPECTED,
    CEL_COLUMNS,
    CEL_EXPECTED,
    NEW_YORK,
    decided,
    dids,
    recorded,
    source,
    utc,
)

MYSQL = os.environ.get("CALLBACK_DESK_TEST_MYSQL_DSN", "mysql://root@127.0.0.1:3306")


# -- MariaDB, FreePBX's schema ---------------------------------------------------------------------


def _mysql_parts(database: str = "") -> dict[str, Any]:
    from ami_listener.sources import _mysql_options

    options = _mysql_options(Secret(f"{MYSQL}/{database or 'mysql'}"))
    if not database:
        options.pop("database")
    return options


async def _mysql(sql: str, params: Sequence[Any] = (), database: str = "") -> None:
    import asyncmy

    conn = await asyncmy.connect(**_mysql_parts(database))
    try:
        async with conn.cursor() as cursor:
            await cursor.execute(sql, params)
        await conn.commit()
    finally:
        conn.close()


# FreePBX: framework installlib/SQL/cdr.sql (+ linkedid, which CDR adaptive ODBC fills when the
# column exists) and the cdr module's install.php for cel.
FREEPBX_CDR = """
CREATE TABLE cdr (
   calldate datetime NOT NULL default '1000-01-01 00:00:00',
   clid varchar(80) NOT NULL default '', src varchar(80) NOT NULL default '',
   dst varchar(80) NOT NULL default '', dcontext varchar(80) NOT NULL default '',
   channel varchar(80) NOT NULL default '', dstchannel varchar(80) NOT NULL default '',
   lastapp varchar(80) NOT NULL default '', lastdata varchar(80) NOT NULL default '',
   duration int(11) NOT NULL default '0', billsec int(11) NOT NULL default '0',
   disposition varchar(45) NOT NULL default '', amaflags int(11) NOT NULL default '0',
   accountcode varchar(20) NOT NULL default '', uniqueid varchar(32) NOT NULL default '',
   userfield varchar(255) NOT NULL default '', did varchar(50) NOT NULL default '',
   recordingfile varchar(255) NOT NULL default '', cnum varchar(80) NOT NULL default '',
   cnam varchar(80) NOT NULL default '', outbound_cnum varchar(80) NOT NULL default '',
   outbound_cnam varchar(80) NOT NULL default '', dst_cnam varchar(80) NOT NULL default '',
   linkedid varchar(32) NOT NULL default '', peeraccount varchar(80) NOT NULL default '',
   sequence int(11) NOT NULL default '0',
   KEY calldate (calldate), KEY uniqueid (uniqueid), KEY did (did)
) DEFAULT CHARSET=utf8mb4
"""
FREEPBX_CEL = """
CREATE TABLE cel (
  id int(11) NOT NULL auto_increment, eventtype varchar(30) NOT NULL,
  eventtime datetime NOT NULL, cid_name varchar(80) NOT NULL, cid_num varchar(80) NOT NULL,
  cid_ani varchar(80) NOT NULL, cid_rdnis varchar(80) NOT NULL, cid_dnid varchar(80) NOT NULL,
  exten varchar(80) NOT NULL, context varchar(80) NOT NULL, channame varchar(80) NOT NULL,
  src varchar(80) NOT NULL, dst varchar(80) NOT NULL, channel varchar(80) NOT NULL,
  dstchannel varchar(80) NOT NULL, appname varchar(80) NOT NULL, appdata varchar(80) NOT NULL,
  amaflags int(11) NOT NULL, accountcode varchar(20) NOT NULL, uniqueid varchar(32) NOT NULL,
  linkedid varchar(32) NOT NULL, peer varchar(80) NOT NULL, userdeftype varchar(255) NOT NULL,
  eventextra varchar(255) NOT NULL, userfield varchar(255) NOT NULL,
  PRIMARY KEY (id), KEY uniqueid_index (uniqueid), KEY linkedid_index (linkedid)
) DEFAULT CHARSET=utf8mb4
"""


def _local(text: str) -> datetime:
    # FreePBX writes the PBX's local time to second precision.
    return utc(text).astimezone(NEW_YORK).replace(tzinfo=None, microsecond=0)


@pytest.fixture
async def freepbx_cdrdb() -> AsyncIterator[str]:
    """A FreePBX ``asteriskcdrdb`` on the machine's MariaDB, holding the lab's rows."""
    name = f"cbd_cdr_{uuid.uuid4().hex[:10]}"
    try:
        await _mysql(f"CREATE DATABASE {name}")
    except OSError as exc:
        unavailable("MARIADB", f"no MariaDB at {MYSQL}: {exc}")
    try:
        await _mysql(FREEPBX_CDR, database=name)
        await _mysql(FREEPBX_CEL, database=name)
        for r in recorded("lab_cel.csv"):
            await _mysql(
                "INSERT INTO cel (eventtype, eventtime, cid_name, cid_num, cid_ani, cid_rdnis,"
                " cid_dnid, exten, context, channame, src, dst, channel, dstchannel, appname,"
                " appdata, amaflags, accountcode, uniqueid, linkedid, peer, userdeftype,"
                " eventextra, userfield) VALUES (%s, %s, %s, %s, '', '', %s, %s, %s, %s, '', '',"
                " '', '', %s, %s, 3, '', %s, %s, '', '', %s, '')",
                [r["eventtype"], _local(r["eventtime"]), *(r[c] for c in CEL_COLUMNS[2:])],
                database=name,
            )
        linked_did = dids()
        for r in recorded("lab_cdr.csv"):
            await _mysql(
                "INSERT INTO cdr (calldate, clid, src, dst, dcontext, channel, dstchannel,"
                " lastapp, lastdata, duration, billsec, disposition, uniqueid, linkedid, did)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                [
                    _local(r["calldate"]),
                    *(r[c] for c in CDR_COLUMNS[1:]),
                    linked_did.get(r["linkedid"], ""),
                ],
                database=name,
            )
        yield f"{MYSQL}/{name}"
    finally:
        await _mysql(f"DROP DATABASE IF EXISTS {name}")


# -- PostgreSQL, cel_pgsql/cdr_pgsql's schema (tests/lab/cdr.sql) ---------------------------------


@pytest.fixture
async def pgsql_cdrdb(pg_server_dsn: str) -> AsyncIterator[str]:
    from tests.conftest import _admin, _with_database

    name = f"cbd_cdr_{uuid.uuid4().hex[:10]}"
    await _admin(pg_server_dsn, f'CREATE DATABASE "{name}"')
    dsn = _with_database(pg_server_dsn, name)
    try:
        conn = await asyncpg.connect(dsn)
        try:
            await conn.execute((Path(__file__).parents[1] / "lab" / "cdr.sql").read_text())
            await conn.executemany(
                f"INSERT INTO cel ({', '.join(CEL_COLUMNS)}) VALUES "
                f"({', '.join(f'${i + 1}' for i in range(len(CEL_COLUMNS)))})",
                [
                    [r["eventtype"], utc(r["eventtime"]).replace(tzinfo=None)]
                    + [r[c] for c in CEL_COLUMNS[2:]]
                    for r in recorded("lab_cel.csv")
                ],
            )
            await conn.executemany(
                f"INSERT INTO cdr ({', '.join(CDR_COLUMNS)}) VALUES "
                f"({', '.join(f'${i + 1}' for i in range(len(CDR_COLUMNS)))})",
                [
                    [utc(r["calldate"]).replace(tzinfo=None)]
                    + [r[c] for c in CDR_COLUMNS[1:9]]
                    + [int(r["duration"]), int(r["billsec"])]
                    + [r[c] for c in CDR_COLUMNS[11:]]
                    for r in recorded("lab_cdr.csv")
                ],
            )
        finally:
            await conn.close()
        yield dsn
    finally:
        await _admin(pg_server_dsn, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.mark.parametrize("kind", ["cel", "cdr"])
async def test_freepbx_mariadb_rows_give_the_listeners_decisions(
    freepbx_cdrdb: str, kind: str
) -> None:
    records = source("mysql", freepbx_cdrdb, kind, NEW_YORK)
    rows = await records.read(CALLS_START - timedelta(seconds=2), CALLS_END)
    assert decided(rows) == (CEL_EXPECTED if kind == "cel" else CDR_EXPECTED)


@pytest.mark.parametrize("kind", ["cel", "cdr"])
async def test_asterisk_pgsql_rows_give_the_listeners_decisions(
    pgsql_cdrdb: str, kind: str
) -> None:
    records = source("postgresql", pgsql_cdrdb, kind, ZoneInfo("UTC"))
    rows = await records.read(CALLS_START - timedelta(seconds=2), CALLS_END)
    expected = CEL_EXPECTED if kind == "cel" else CDR_EXPECTED
    if kind == "cdr":
        # Asterisk's own CDR schema has no did: the IVR moved the call to ivr-main, and that
        # is all its CDR remembers, so the call cannot be told from an internal one.
        expected = {n: d for n, d in expected.items() if n != "2125557706"}
    assert decided(rows) == expected


async def test_reading_a_window_returns_whole_calls_that_touch_it(pgsql_cdrdb: str) -> None:
    linkedid = next(r["linkedid"] for r in recorded("lab_cel.csv") if r["cid_num"] == "2125557703")
    voicemail = [r for r in recorded("lab_cel.csv") if r["linkedid"] == linkedid]
    # A window that only covers the end of the voicemail call still reads all of it (the
    # next calls began 40 ms after it ended).
    end = max(utc(r["eventtime"]) for r in voicemail)
    rows = await source("postgresql", pgsql_cdrdb, "cel", ZoneInfo("UTC")).read(
        end - timedelta(seconds=1), end
    )
    assert decided(rows) == {"2125557703": CEL_EXPECTED["2125557703"]}
    assert len(rows) == len(voicemail) and {r.linkedid for r in rows} == {linkedid}
    # A window after every call reads nothing.
    later = await source("postgresql", pgsql_cdrdb, "cel", ZoneInfo("UTC")).read(
        CALLS_END + timedelta(minutes=1), CALLS_END + timedelta(minutes=2)
    )
    assert later == []
