"""``callback-desk demo``: the packaged morning, and the whole pipeline run from the command line.

The embedded-PostgreSQL path (no --dsn) runs from the built wheel in tests/db/test_install.py.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from datetime import date, datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit
from zoneinfo import ZoneInfo

import asyncpg
import pytest

from callback_desk.cli import main
from callback_desk.demo.morning import MORNING, Rewriter, load_trace, morning_day, plan

ROOT = Path(__file__).resolve().parents[2]
NY = ZoneInfo("America/New_York")


def test_packaged_traces_are_the_lab_recordings() -> None:
    packaged = ROOT / "callback_desk" / "demo" / "data"
    for call in MORNING:
        assert (packaged / call.trace).read_bytes() == (
            ROOT / "tests" / "data" / call.trace
        ).read_bytes()


def test_a_trace_played_twice_is_two_calls_at_their_own_times() -> None:
    calls = plan(date(2026, 11, 27), NY)
    assert len({c.linkedid for c in calls}) == len(MORNING)
    nora = [c for c in calls if c.call.trace == "ringgroup_nobody.ami"]
    assert [c.start.strftime("%H:%M") for c in nora] == ["08:26", "09:52"]
    for planned in nora:
        stamps = [
            float(line.split(": ")[1])
            for f in planned.frames
            for line in f.split("\r\n")
            if line.startswith("Timestamp: ")
        ]
        assert min(stamps) == pytest.approx(planned.start.timestamp())
        ids = {
            line.split(": ")[1]
            for f in planned.frames
            for line in f.split("\r\n")
            if line.lower().startswith(("uniqueid: ", "linkedid: "))
        }
        assert planned.linkedid in ids
    first_ids = {line for f in nora[0].frames for line in f.split("\r\n") if "niqueid: " in line}
    second_ids = {line for f in nora[1].frames for line in f.split("\r\n") if "niqueid: " in line}
    assert first_ids and not first_ids & second_ids


def test_a_replayed_caller_is_another_caller_throughout() -> None:
    rewriter = Rewriter(
        start=datetime(2026, 11, 27, 10, 31, tzinfo=NY),
        sequence=0,
        caller=(("+12125550101", "Alice Answered"), ("+12125550102", "Rita Ringing")),
    )
    text = "".join(rewriter.frames(load_trace("direct_answered.ami")))
    assert "+15550100001" not in text and "Alice" not in text
    assert "+12125550101" not in text
    assert "CallerIDNum: +12125550102" in text


@pytest.mark.parametrize(
    ("now", "day"),
    [
        ("2026-11-27T12:00", "2026-11-27"),  # Friday after the morning: that morning
        ("2026-11-27T09:00", "2026-11-26"),  # Friday during the morning: Thursday's
        ("2026-11-29T10:00", "2026-11-27"),  # Sunday: Friday's
        ("2026-11-30T08:00", "2026-11-27"),  # Monday early: Friday's
    ],
)
def test_the_morning_shown_is_the_latest_weekday_morning_that_is_over(now: str, day: str) -> None:
    assert morning_day(datetime.fromisoformat(now).replace(tzinfo=NY)).isoformat() == day


@pytest.fixture
def demo_env(monkeypatch: pytest.MonkeyPatch) -> None:
    # The demo reads no config file: a broken one must not matter.
    monkeypatch.setenv("CALLBACK_DESK_CONFIG", "/nonexistent.toml")


def test_demo_shows_the_listener_the_report_and_the_menu(
    pg_server_dsn: str, demo_env: None, capsys
) -> None:
    # One run (it takes seconds): --keep, so the rows can be checked; without --keep nothing is
    # left behind, checked on the embedded server from the wheel (tests/db/test_install.py).
    code = main(["demo", "--keep", "--dsn", pg_server_dsn])
    out, err = capsys.readouterr()
    # Named from the output (other runs may make demo databases on a shared server meanwhile),
    # and dropped whatever happens below.
    made = re.findall(r"database (callback_desk_demo_[0-9a-f]+) created", out)
    # The kept simulated PBX (with --dsn, no PostgreSQL of its own): the printed kill stops it.
    pids = [int(pid) for pid in re.findall(r"^    kill (\d+)$", out, re.M)]
    try:
        assert code == 0 and "Traceback" not in err, err
        [kept] = made
        assert f'The database {kept} stays on your server: DROP DATABASE "{kept}"' in out
        stored = asyncio.run(_rows(pg_server_dsn, kept))
    finally:
        asyncio.run(_drop(pg_server_dsn, made))
        for pid in pids:
            os.kill(pid, signal.SIGTERM)
            os.waitpid(pid, 0)  # started by this process (main() ran here): reap it
    assert len(pids) == 1
    # The listener's decisions, one line per call, as they happen.
    assert "Rita Ringing         → 2000 direct line            MISSED (hangup while ringing)" in out
    assert "MISSED (queue abandoned)" in out and "MISSED (ivr hangup)" in out
    assert "not recorded (internal)" in out
    # The report: five callers waiting; Rita got through later and Vera left a message.
    report = out.split("The morning report")[1].split("The desk phone")[0]
    assert "5 callers to call back" in report
    assert "Nora Nobody" in report and "Rita" not in report and "Vera" not in report
    # The menu: the count (callable callers only), the first caller's number, the next.
    menu = out.split("The desk phone")[1]
    assert "There are currently four callers waiting to speak with a representative." in menu
    assert (
        "Telephone number. two one two five five five zero one zero six received today at nine"
        " fifty two A.M. for second Time. press 1 to call this number" in menu
    )
    assert "[presses 2]" in menu
    # The real inbox page, signed in to as jane at desk 100 (who hears every line): the
    # report's five callers, in the report's order, with the page's own buttons.
    inbox = out.split("The callback inbox")[1]
    cards = re.findall(r"^    (\S.*?)  (\S.*)$", inbox.split("The demo's calls")[0], re.M)
    # The page is read at the real time, the report at the morning's: the morning's calls are
    # new since the last closing when the test runs on that very day (after REPORT_AT), not on
    # a later one. All five came in that morning: the mark is on every card or on none.
    badge = " (New since the last closing)"
    assert len({name.endswith(badge) for _number, name in cards}) == 1, cards
    cards = [(number, name.removesuffix(badge)) for number, name in cards]
    assert cards == [
        ("(212) 555-0106", "Nora Nobody"),
        ("(withheld)", "Anonymous"),
        ("(212) 555-0108", "Ivy Menu"),
        ("(212) 555-0107", "Quinn Queue"),
        ("(212) 555-0103", "Greta Greeting"),
    ]
    day = r"\w{3} \d{1,2} \w{3}"  # the latest weekday morning: the test's own day decides
    assert re.search(rf"2 calls · first {day} 08:26, last {day} 09:52 · line 2001 → 100", inbox)
    assert "reached the greeting and hung up · line 2000" in inbox
    assert inbox.count("Say: “") == 5
    # Four can be called from the desk phone (as the menu counts); the withheld one cannot.
    assert inbox.count("[Call from my desk phone]  [Handled]  [Never call back]") == 4
    assert "No number to call back" in inbox and inbox.count("[Never call back]") == 5
    assert "callback-desk user add me --extension 100 && callback-desk web" in out
    # What the listener wrote: every call but the internal one.
    assert len(stored) == len(MORNING) - 1
    assert stored.count(("missed", "no_answer")) == 2
    assert ("voicemail", "voicemail_left") in stored


async def _rows(server_dsn: str, database: str) -> list[tuple[str, str]]:
    conn = await asyncpg.connect(urlunsplit(urlsplit(server_dsn)._replace(path="/" + database)))
    try:
        found = await conn.fetch("SELECT outcome, reason FROM calls ORDER BY started_at")
        return [(r["outcome"], r["reason"]) for r in found]
    finally:
        await conn.close()


async def _drop(server_dsn: str, databases: list[str]) -> None:
    admin = await asyncpg.connect(server_dsn)
    try:
        for name in databases:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


def test_demo_without_the_extra_says_how_to_get_it(demo_env, monkeypatch, capsys) -> None:
    # As if pgserver were not installed: import and find_spec both see nothing.
    monkeypatch.setitem(sys.modules, "pgserver", None)
    assert main(["demo"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "callback-desk[demo]" in err


def test_demo_help_lists_only_options_it_reads(capsys) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["demo", "--help"])
    assert exited.value.code == 0
    shown = capsys.readouterr().out
    assert "--keep" in shown and "--dsn" in shown
    assert "--config" not in shown  # it reads no config file


def test_ctrl_c_during_the_demo_leaves_nothing_behind() -> None:
    # A short TMPDIR of its own, as /tmp is (passable: as root the server runs as nobody).
    scratch = Path(tempfile.mkdtemp(prefix="cbd-", dir="/tmp"))
    scratch.chmod(0o711)
    try:
        _interrupt_the_demo(scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _interrupt_the_demo(scratch: Path) -> None:
    demo = subprocess.Popen(
        [str(Path(sys.executable).parent / "callback-desk"), "demo"],
        env={
            **{k: v for k, v in os.environ.items() if not k.startswith("CALLBACK_DESK_")},
            "TMPDIR": str(scratch),
        },
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    assert demo.stdout is not None
    shown = ""
    while "a morning's calls" not in shown:
        line = demo.stdout.readline()
        assert line, "the demo ended before the morning began"
        shown += line
    demo.send_signal(signal.SIGINT)  # as Ctrl-C: the database is up, the listener running
    _out, err = demo.communicate(timeout=60)
    assert demo.returncode == 130 and "Traceback" not in err, err
    assert list(scratch.iterdir()) == []
