"""Every output format of ``callback-desk report``, rendered from rows in a real PostgreSQL."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import re
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from callback_desk.cli import main
from callback_desk.core.config import Settings
from callback_desk.core.store import Store
from callback_desk.report.command import ReportOptions, run, run_on_screen
from fakes.settings import make_settings
from tests.report_support import call

# The component under test connects with cbd_report's rights only (sql/grants.sql).
pytestmark = pytest.mark.db_role("cbd_report")

NY = ZoneInfo("America/New_York")
# Tuesday 08:00; the previous business day (Monday) closed at 18:00.
NOW = datetime(2026, 11, 24, 8, 0, tzinfo=NY)
HOSTILE = '<script>alert("x")</script> "O\'Brien" & Ärger 日本\nsecond line\x1b[2J'
FORMULA = '=HYPERLINK("http://evil.example","click")'


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=NY)


def settings(dsn: str, **report: Any) -> Settings:
    return make_settings(dsn, pbx={"timezone": "America/New_York", "country": "US"}, report=report)


async def render(dsn: str, now: datetime = NOW, **options: Any) -> str:
    out = io.StringIO()
    assert await run(settings(dsn), ReportOptions(**options), out, now) == 0
    return out.getvalue()


@pytest.fixture
async def night(store: Store, db_dsn: str) -> str:
    """Monday night after closing, as the listener would have recorded it."""
    rec = store.record_call
    # Three tries from one person, the last one reached the greeting.
    await rec("pbx", call("a1", at(23, 19, 0), "2125550123", name="Sam"))
    await rec("pbx", call("a2", at(23, 21, 30), "(212) 555-0123", name="Sam"))
    await rec("pbx", call("a3", at(23, 22, 15), "+12125550123", name="Sam", reached_voicemail=True))
    # Another therapist's line.
    await rec(
        "pbx", call("b1", at(24, 7, 10), "+13125550188", did="2001", rang=("101@phones",), name="")
    )
    await rec("pbx", call("c1", at(23, 20, 0), "6465550100", name=HOSTILE))
    await rec("pbx", call("g1", at(23, 20, 5), "6465550199", name=FORMULA))
    # Returned by an answered callback from the practice before the report runs.
    await rec("pbx", call("d1", at(23, 19, 30), "7185550111", name="Returned"))
    await rec(
        "pbx",
        call("d2", at(24, 7, 30), "7185550111", direction="outbound", outcome="answered"),
    )
    # Withheld number.
    await rec("pbx", call("e1", at(23, 23, 0), "anonymous", name="", rang=("PJSIP/102@phones",)))
    # Before closing and not returned: still on this morning's list, but not new.
    await rec("pbx", call("f1", at(23, 17, 0), "9175550142", name="Earlier"))
    async with store.pool.acquire() as conn:
        last_sam = await conn.fetchval("SELECT id FROM calls WHERE linkedid = 'a3'")
        await conn.execute(
            "INSERT INTO callback_attempts (call_id, extension, started_at, dial_status)"
            " VALUES ($1, '100', $2, 'NOANSWER')",
            last_sam,
            at(24, 7, 45),
        )
    return db_dsn


async def test_json_keeps_listener_fields_and_adds_report_fields(night: str) -> None:
    data = json.loads(await render(night, format="json"))
    entries = {e["number_as_received"]: e for e in data["missed"]}
    assert set(entries) == {
        "+12125550123",
        "+13125550188",
        "6465550100",
        "6465550199",
        "anonymous",
        "9175550142",
    }
    last = [e["last_at"] for e in data["missed"]]
    assert last == sorted(last, reverse=True)  # machine output: most recent first
    sam = entries["+12125550123"]
    assert sam == {
        "number": "+12125550123",
        "number_as_received": "+12125550123",
        "name": "Sam",
        "calls": 3,
        "first_at": "2026-11-23T19:00:00-05:00",
        "last_at": "2026-11-23T22:15:00-05:00",
        "reached_voicemail": True,
        "did": "2000",
        "reason": "hangup_while_ringing",
        "callable": True,
        "last_call_id": sam["last_call_id"],
        "number_e164": "+12125550123",
        "number_national": "(212) 555-0123",
        "rang": ["PJSIP/100@phones"],
        "extensions": ["100"],
        "new_calls": 3,
        "attempts": 1,
        "last_attempt_at": "2026-11-24T07:45:00-05:00",
        "status": "awaiting",
        "returned_at": None,
        "returned_how": None,
    }
    assert isinstance(sam["last_call_id"], int)
    assert entries["6465550100"]["name"] == HOSTILE  # intact: JSON escaping is the encoder's
    anonymous = entries["anonymous"]
    assert (anonymous["number"], anonymous["callable"], anonymous["number_e164"]) == (
        "anonymous",
        False,
        None,
    )
    assert entries["9175550142"]["new_calls"] == 0  # still awaiting, but from before closing
    assert data["since"] == "2026-11-10T08:00:00-05:00"  # the 14-day look-back
    assert data["until"] == "2026-11-24T08:00:00-05:00"
    assert data["new_since"] == "2026-11-23T18:00:00-05:00"  # Monday's closing
    assert (data["awaiting"], data["new"]) == (6, 5)
    assert data["week"]["missed_calls"] == 9


async def test_all_lists_returned_callers_and_how(night: str) -> None:
    data = json.loads(await render(night, format="json", include_returned=True))
    returned = [e for e in data["missed"] if e["status"] == "returned"]
    assert [(e["number"], e["returned_how"]) for e in returned] == [
        ("+17185550111", "outbound_answered")
    ]
    assert returned[0]["returned_at"] == "2026-11-24T07:30:00-05:00"
    assert data["missed"][-1]["status"] == "returned"  # awaiting callers come first
    text = await render(night, include_returned=True)
    assert "called back (answered)" in text
    assert "(718) 555-0111" in text
    assert "(718) 555-0111" not in await render(night)


async def test_explicit_window_limits_the_list(night: str) -> None:
    data = json.loads(
        await render(night, format="json", since=datetime(2026, 11, 23, 18, 0), until=NOW)
    )
    assert "+19175550142" not in [e["number"] for e in data["missed"]]
    # --until alone moves the look-back with it: Monday noon, before most of the night's calls.
    data = json.loads(await render(night, format="json", until=datetime(2026, 11, 23, 18, 0)))
    assert [e["number"] for e in data["missed"]] == ["+19175550142"]
    assert data["since"] == "2026-11-09T18:00:00-05:00"


async def test_for_filters_on_extension_or_did(night: str) -> None:
    def numbers(text: str) -> list[str]:
        return [e["number"] for e in json.loads(text)["missed"]]

    assert numbers(await render(night, format="json", covers=("101",))) == ["+13125550188"]
    assert numbers(await render(night, format="json", covers=("2001",))) == ["+13125550188"]
    on_100 = numbers(await render(night, format="json", covers=("100",)))
    assert sorted(on_100) == ["+12125550123", "+16465550100", "+16465550199", "+19175550142"]
    assert numbers(await render(night, format="json", covers=("102", "101"))) == [
        "+13125550188",
        "anonymous",
    ]
    assert numbers(await render(night, format="json", covers=("999",))) == []


async def test_text_table_is_national_sanitised_and_urgent_first(night: str) -> None:
    text = await render(night)
    lines = text.splitlines()
    assert lines[0] == (
        "6 callers to call back (5 new) — missed between Tue 10 Nov 08:00 and Tue 24 Nov 08:00; "
        "new since Mon 23 Nov 18:00"
    )
    header = next(i for i, line in enumerate(lines) if line.startswith("Number"))
    assert lines[header + 1].startswith("(212) 555-0123  Sam")
    sam = lines[header + 1].split()
    assert "3" in sam and "yes" in sam and sam[-1] == "1"  # calls, greeting, tries
    assert "2000 → 100" in lines[header + 1]
    assert "\x1b" not in text and "second line" not in text  # name cut at 24 columns
    hostile = next(line for line in lines if line.startswith("(646) 555-0100"))
    assert "<script>alert" in hostile  # a terminal shows text as is, minus control characters
    assert "Missed calls by weekday and hour (America/New_York):" in text


async def test_csv_neutralises_formulas_and_keeps_values(night: str) -> None:
    rows = list(csv.DictReader(io.StringIO(await render(night, format="csv"))))
    by_number = {r["number"]: r for r in rows}
    assert by_number["+16465550199"]["name"] == "'" + FORMULA
    assert by_number["+16465550100"]["name"] == HOSTILE
    assert by_number["+12125550123"]["number_as_received"] == "+12125550123"  # a plain number
    assert by_number["+12125550123"]["first_at"] == "2026-11-23T19:00:00-05:00"
    assert by_number["+12125550123"]["attempts"] == "1"
    assert by_number["anonymous"]["callable"] == "no"
    assert (by_number["+12125550123"]["extensions"], by_number["+12125550123"]["new_calls"]) == (
        "100",
        "3",
    )
    assert by_number["+19175550142"]["new_calls"] == "0"
    assert len(rows) == 6


def test_terminal_text_loses_control_characters_and_keeps_width() -> None:
    from callback_desk.report.render_text import clean, fit, width

    assert clean("a\nb\x1b[2J\u202ec") == "a b\ufffd[2J\ufffdc"
    assert width("日本") == 4 and width("Ärger") == 5
    assert fit("日本語の名前です", 7) == "日本語…"
    assert fit("日本語の名前です", 8) == "日本語… "
    assert width(fit("x" * 40, 24)) == 24


def test_csv_cell_rules() -> None:
    from callback_desk.report.render_csv import cell

    assert [cell(v) for v in ("=1+1", "+cmd|x", "-2+3", "@SUM(A1)", "\tx", "\rx")] == [
        "'=1+1",
        "'+cmd|x",
        "'-2+3",
        "'@SUM(A1)",
        "'\tx",
        "'\rx",
    ]
    assert [cell(v) for v in ("+12125550123", "-5", "Ann", "")] == ["+12125550123", "-5", "Ann", ""]


async def test_html_escapes_caller_values_and_links_only_valid_numbers(
    night: str, store: Store
) -> None:
    # A tampered key (the listener never writes one) must not reach an href.
    await store.record_call(
        "pbx",
        call(
            "h1",
            at(23, 23, 30),
            '+1" onclick="x',
            number_key='+1" onclick="x',
            callable=True,
            name="<b>bold</b>",
        ),
    )
    page = await render(night, format="html")
    assert "<script>" not in page and "<b>bold</b>" not in page
    assert (
        "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &quot;O&#x27;Brien&quot; &amp;" in page
    )
    assert "Ärger 日本" in page
    assert "\x1b" not in page
    # tel: links show the reading phone's own number: none unless an admin opts in...
    assert "tel:" not in page
    out = io.StringIO()
    await run(settings(night, tel_links=True), ReportOptions(format="html"), out, NOW)
    page = out.getvalue()
    hrefs = re.findall(r'href="([^"]*)"', page)
    # ...and then they say so, next to each link.
    assert page.count("calling from this phone shows this phone's own number") == len(hrefs)
    assert sorted(hrefs) == [
        "tel:+12125550123",
        "tel:+13125550188",
        "tel:+16465550100",
        "tel:+16465550199",
        "tel:+19175550142",
    ]
    assert 'onclick="x' not in page
    assert page.count("Hi, I think I missed a call from this number earlier.") == 7
    assert '<meta name="viewport"' in page and "<svg" in page
    assert not re.search(r"therap|counsel|practice|clinic|session", page, re.IGNORECASE)


async def test_opening_line_uses_first_name(night: str) -> None:
    out = io.StringIO()
    await run(settings(night, first_name="Alex"), ReportOptions(format="html"), out, NOW)
    assert "Hi, this is Alex, I think I missed a call from this number earlier." in out.getvalue()


async def test_empty_report_in_every_format(db_dsn: str) -> None:
    assert json.loads(await render(db_dsn, format="json"))["missed"] == []
    assert "Nobody is waiting for a callback." in await render(db_dsn)
    assert "Nobody is waiting for a callback." in await render(db_dsn, format="html")
    assert (await render(db_dsn, format="csv")).splitlines() == [
        "number,number_as_received,name,calls,first_at,last_at,reached_voicemail,did,rang,"
        "attempts,last_attempt_at,status,returned_at,returned_how,callable,last_call_id,"
        "extensions,new_calls"
    ]
    week = json.loads(await render(db_dsn, format="json"))["week"]
    assert week["missed_calls"] == 0 and week["share_returned_within_24h"] is None


def _config(tmp_path: Path, dsn: str) -> Path:
    path = tmp_path / "cbd.toml"
    path.write_text(
        f'[database]\ndsn = "{dsn}"\n[pbx]\ntimezone = "America/New_York"\n'
        '[report]\nbusiness_days = ["mon", "tue", "wed", "thu", "fri"]\n',
        "utf-8",
    )
    return path


async def test_cli_json_window_as_before(
    night: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _config(tmp_path, night)
    argv = ["report", "--format", "json", "--since", "2026-11-23T18:00", "--until"]
    argv += ["2026-11-24T08:00-05:00", "--config", str(config)]
    assert await asyncio.to_thread(main, argv) == 0
    data = json.loads(capsys.readouterr().out)
    assert len(data["missed"]) == 5
    assert min(e["first_at"] for e in data["missed"]) == "2026-11-23T19:00:00-05:00"
    argv = ["--config", str(config), "report", "--format", "csv", "--since", "2026-11-23"]
    assert await asyncio.to_thread(main, [*argv, "--until", "2026-11-25", "--no-week"]) == 0
    assert "+19175550142" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--for", "100; DROP"], "--for: '100; DROP' is not a DID or extension"),
        (["--since", "2026-11-25", "--until", "2026-11-24"], "must be before --until"),
        (["--to", "x@example.org"], "--to only makes sense with --email"),
        (["--email", "--for", "100"], "--for with --email needs --to"),
        (["--email"], "--email: no recipients"),
    ],
)
async def test_cli_user_mistakes_exit_2_with_one_line(
    db_dsn: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    extra: list[str],
    message: str,
) -> None:
    argv = ["report", "--config", str(_config(tmp_path, db_dsn)), *extra]
    assert await asyncio.to_thread(main, argv) == 2
    err = capsys.readouterr().err
    assert message in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_json_escapes_c1_controls_and_bidi_overrides() -> None:
    from callback_desk.report.render_json import dumps

    # U+202E turns "Evil\u202eflow.exe" into "Evilexe.wolf" on screen; U+009B is a one-byte CSI.
    name = "Evil\u202eflow\u2066x\u2069\u200e\u200f\u009b2J\u0085 Ärger 日本 \u2028"
    text = dumps({"name": name})
    assert json.loads(text) == {"name": name}  # the same value for a machine
    for ch in ("\u202e", "\u2066", "\u2069", "\u200e", "\u200f", "\u009b", "\u0085", "\u2028"):
        assert ch not in text
    assert "\\u202e" in text and "\\u009b" in text
    assert "Ärger 日本" in text  # other text stays readable


@pytest.mark.parametrize("fmt", ["text", "csv", "json", "html"])
@pytest.mark.parametrize("include_returned", [False, True])
async def test_the_report_as_a_command_reads_the_same_without_asyncpg(
    night: str, fmt: str, include_returned: bool
) -> None:
    # The command line reads a report on screen over the small synchronous client
    # (run_on_screen); everything else over asyncpg (run). Same rows, same page.
    options = ReportOptions(format=fmt, include_returned=include_returned)  # type: ignore[arg-type]
    wire = io.StringIO()
    assert run_on_screen(settings(night), options, wire, NOW) == 0
    assert wire.getvalue() == await render(night, format=fmt, include_returned=include_returned)
