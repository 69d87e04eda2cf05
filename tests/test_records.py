"""The PBX's own records -> decisions, read from a real MariaDB (FreePBX's asteriskcdrdb schema)
and a real PostgreSQL (cel_pgsql/cdr_pgsql schema).

The rows are real: ``tests/data/lab_cel.csv``/``lab_cdr.csv`` are what the lab PBX wrote for
one call of each kind (tests/test_gaps_lab.py's calls; numbers 21255577NN, see the kinds below).
In MariaDB they are stored as FreePBX does: local time (America/New_York here) without zone,
CEL's extra in ``eventextra``, the inbound route's DID in ``did``.
"""

from __future__ import annotations

import csv
import os
import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import pytest

from ami_listener import cdr
from ami_listener.gaps import ReconcileSettings
from ami_listener.sources import SqlRecords
from callback_desk.core.config import Secret
from callback_desk.core.exceptions import ConfigError, RecordsUnavailable
from fakes.settings import make_settings

DATA = Path(__file__).parent / "data"
NEW_YORK = ZoneInfo("America/New_York")
RULES = cdr.Rules(frozenset({"from-pstn"}), "US")
MYSQL = os.environ.get("CALLBACK_DESK_TEST_MYSQL_DSN", "mysql://root@127.0.0.1:3306")

# What the listener decided live for the same calls (tests/test_gaps_lab.py compares reports).
CEL_EXPECTED = {
    "2125557701": ("inbound", "missed", "hangup_while_ringing"),
    "2125557702": ("inbound", "missed", cdr.VOICEMAIL_UNKNOWN),  # hung up in the greeting
    "2125557703": ("inbound", "missed", cdr.VOICEMAIL_UNKNOWN),  # left a message
    "2125557704": ("inbound", "missed", "no_answer"),  # ring group, nobody
    "2125557705": ("inbound", "missed", "queue_abandoned"),
    "2125557706": ("inbound", "missed", "ivr_hangup"),
    "2125557707": ("inbound", "answered", "answered"),
    "2125557708": ("inbound", "answered", "answered"),  # ring group, 101 answers
    "2125557709": ("outbound", "answered", "answered"),
}
# A CDR cannot tell a caller who hung up while it rang from one it rang out on.
CDR_EXPECTED = {
    **CEL_EXPECTED,
    "2125557701": ("inbound", "missed", cdr.UNANSWERED),
    "2125557704": ("inbound", "missed", cdr.UNANSWERED),
}

CEL_COLUMNS = (
    "eventtype eventtime cid_name cid_num cid_dnid exten context channame appname appdata "
    "uniqueid linkedid extra"
).split()
CDR_COLUMNS = (
    "calldate clid src dst dcontext channel dstchannel lastapp lastdata duration billsec "
    "disposition uniqueid linkedid"
).split()


def recorded(name: str) -> list[dict[str, str]]:
    with (DATA / name).open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def dids() -> dict[str, str]:
    """linkedid -> DID, as FreePBX's inbound routes set CDR(did)."""
    return {
        r["linkedid"]: r["exten"] for r in recorded("lab_cel.csv") if r["context"] == "from-pstn"
    }


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
        if os.environ.get("CALLBACK_DESK_REQUIRE_MARIADB") == "1":
            pytest.fail(f"CALLBACK_DESK_REQUIRE_MARIADB=1 but MariaDB is unreachable: {exc}")
        pytest.skip(f"no MariaDB at {MYSQL}: {exc}")
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
            await conn.execute((Path(__file__).parent / "lab" / "cdr.sql").read_text())
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


# -- the window of the lab's calls ---------------------------------------------------------------

CALLS_START = min(utc(r["eventtime"]) for r in recorded("lab_cel.csv"))
CALLS_END = max(utc(r["eventtime"]) for r in recorded("lab_cel.csv"))


def decided(rows: Sequence[cdr.CelRow] | Sequence[cdr.CdrRow]) -> dict[str, tuple[str, str, str]]:
    out: dict[str, tuple[str, str, str]] = {}
    for call in cdr.by_linkedid(list(rows)).values():
        if isinstance(call[0], cdr.CelRow):
            cel_rows = [r for r in call if isinstance(r, cdr.CelRow)]
            assert cdr.cel_over(cel_rows)
            record = cdr.decide_cel(cel_rows, RULES)
        else:
            record = cdr.decide_cdr([r for r in call if isinstance(r, cdr.CdrRow)], RULES)
        if record is not None:
            out[record.number] = (record.direction, record.outcome, record.reason)
    return out


def source(engine: str, dsn: str, kind: str, tz: ZoneInfo) -> SqlRecords:
    return SqlRecords(
        "postgresql" if engine == "postgresql" else "mysql",
        Secret(dsn),
        "cel" if kind == "cel" else "cdr",
        kind,
        tz,
        lead=timedelta(hours=1),
    )


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


def test_a_call_still_running_is_not_decided_yet() -> None:
    rows = [
        cdr.CelRow("CHAN_START", CALLS_START, "1.1", "1.1", "PJSIP/carrier-1", "from-pstn",
                   "2000", "2125550100", "", "", "", ""),
        cdr.CelRow("APP_START", CALLS_START, "1.1", "1.1", "PJSIP/carrier-1", "from-pstn",
                   "2000", "2125550100", "", "Dial", "PJSIP/100@phones,6", ""),
    ]  # fmt: skip
    assert not cdr.cel_over(rows)


async def test_unreachable_source_is_a_records_error() -> None:
    records = source("mysql", "mysql://nobody:x@127.0.0.1:9/asteriskcdrdb", "cel", NEW_YORK)
    with pytest.raises(RecordsUnavailable):
        await records.read(CALLS_START, CALLS_END)


@pytest.mark.parametrize(
    "table", ["cel; DROP TABLE calls", "cel WHERE 1=1 --", "cel`x", "a.b.c", "1cel", ""]
)
def test_a_table_name_that_is_not_an_identifier_is_refused(table: str) -> None:
    # Table names go into SQL text (they cannot be bound): anything but an identifier is an
    # injection attempt or a typo, refused before any query.
    settings = make_settings(reconcile={"cel_table": table})
    with pytest.raises(ConfigError, match=r"\[reconcile\] cel_table"):
        ReconcileSettings.from_settings(settings)


def test_reconcile_needs_a_dsn_when_enabled_and_never_shows_it() -> None:
    with pytest.raises(ConfigError, match="dsn is required"):
        ReconcileSettings.from_settings(make_settings(reconcile={"enabled": True}))
    settings = make_settings(
        reconcile={"enabled": True, "source": "mysql", "dsn": "mysql://u:hunter2@pbx/cdr"}
    )
    parsed = ReconcileSettings.from_settings(settings)
    assert "hunter2" not in repr(parsed)
    with pytest.raises(ConfigError, match="must be 'postgresql' or 'mysql'"):
        ReconcileSettings.from_settings(make_settings(reconcile={"source": "oracle"}))
    # A DSN for the wrong engine is refused at start, without echoing its password.
    wrong = make_settings(
        reconcile={"enabled": True, "source": "postgresql", "dsn": "mysql://u:hunter2@pbx/cdr"}
    )
    with pytest.raises(ConfigError, match="dsn must look like postgresql://") as caught:
        ReconcileSettings.from_settings(wrong)
    assert "hunter2" not in str(caught.value)


def test_without_the_extra_column_answers_still_count() -> None:
    # cel_odbc fills a column only when its name is a CEL field: FreePBX's table calls it
    # eventextra, so without `alias extra => eventextra` in cel_odbc_custom.conf it stays empty.
    # Answers then come from the desk's (or far end's) own ANSWER; reasons are coarser.
    rows = [
        cdr.CelRow(
            event=r["eventtype"],
            at=utc(r["eventtime"]),
            uniqueid=r["uniqueid"],
            linkedid=r["linkedid"],
            channel=r["channame"],
            context=r["context"],
            exten=r["exten"],
            cid_num=r["cid_num"],
            cid_name=r["cid_name"],
            app=r["appname"],
            appdata=r["appdata"],
            extra="",
        )
        for r in recorded("lab_cel.csv")
    ]
    assert decided(rows) == {
        **CEL_EXPECTED,
        "2125557704": ("inbound", "missed", "hangup_while_ringing"),  # rang out, in fact
    }
