"""The PBX's own records -> decisions: the CEL and CDR rows the lab PBX wrote, decided as the
listener decides live; the reconcile settings. The same rows read back from a real MariaDB
(FreePBX's asteriskcdrdb schema) and a real PostgreSQL (cel_pgsql/cdr_pgsql schema):
tests/db/test_records.py.

The rows are real: ``tests/data/lab_cel.csv``/``lab_cdr.csv`` are what the lab PBX wrote for
one call of each kind (tests/lab/test_gaps_lab.py's calls; numbers 21255577NN, see the kinds below).
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from ami_listener import cdr
from ami_listener.gaps import ReconcileSettings
from ami_listener.sources import SqlRecords
from callback_desk.core.config import Secret
from callback_desk.core.exceptions import ConfigError, RecordsUnavailable
from fakes.settings import make_settings

DATA = Path(__file__).parents[1] / "data"
NEW_YORK = ZoneInfo("America/New_York")
RULES = cdr.Rules(frozenset({"from-pstn"}), "US")

# What the listener decided live for the same calls (tests/lab/test_gaps_lab.py compares reports).
CEL_EXPECTED = {
    "2125557701": ("inbound", "missed", "hangup_while_ringing"),
    "2125557702": ("inbound", "missed", "reconciled_voicemail_unknown"),  # hung up in the greeting
    "2125557703": ("inbound", "missed", "reconciled_voicemail_unknown"),  # left a message
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
    "2125557701": ("inbound", "missed", "reconciled_unanswered"),
    "2125557704": ("inbound", "missed", "reconciled_unanswered"),
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
