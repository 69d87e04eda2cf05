"""The desk-phone menu and the callback dial, end to end against a strict fake Asterisk.

Each scenario runs twice: over classic AGI (a real ``python -m agi`` subprocess on pipes) and
over FastAGI (the real server on a real socket). The database is real.
"""

from __future__ import annotations

import signal
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from agi.config import load
from agi.queries import Callbacks
from callback_desk.core.config import DatabaseSettings, Secret, Settings
from callback_desk.core.exceptions import ConfigError
from callback_desk.core.model import Disposition
from callback_desk.core.store import Store
from fakes.agi_peer import AgiPeer, env
from fakes.agi_runner import run_classic, run_fastagi, toml_text
from fakes.settings import make_settings
from tests.agi_support import add_missed

# The component under test connects with cbd_desk's rights only (sql/grants.sql).
pytestmark = pytest.mark.db_role("cbd_desk")

AGI = {
    "callback_number": "+12125550100",
    "callback_name": "Appointments",
    "dial_mode": "template",
    "dial_template": "PJSIP/{number}@carrier",
    "digit_timeout": 1.0,
    "retries": 2,
    "db_timeout": 2.0,
}
PBX = {"timezone": "America/New_York", "country": "US"}
DOWN_DSN = "postgresql://postgres@127.0.0.1:1/nothing"

A, B, C = "+12125550101", "+12125550102", "+12125550103"


@dataclass
class Mode:
    name: str
    run: Callable[[AgiPeer], Awaitable[None]]
    exit_codes: list[int]


@pytest.fixture(params=["classic", "fastagi"])
async def mode(request: pytest.FixtureRequest, db_dsn: str, component_store: Store, tmp_path: Path):
    """A function running one AGI session against the peer, in the requested mode, with the
    desk's database rights (cbd_desk) in both."""
    exit_codes: list[int] = []

    def make(dsn: str, agi: dict[str, object]) -> Callable[[AgiPeer], Awaitable[None]]:
        if request.param == "classic":
            config = tmp_path / "callback-desk.toml"
            config.write_text(toml_text({"database": {"dsn": dsn}, "pbx": PBX, "agi": agi}))

            async def classic(peer: AgiPeer) -> None:
                rc, err = await run_classic(config, peer)
                exit_codes.append(rc)
                assert "Traceback" not in err, err
                for secret in ("2125550101", "2125550102", "2125550103"):
                    assert secret not in err, "a caller's number reached the log"

            return classic

        async def fastagi(peer: AgiPeer) -> None:
            settings = make_settings(dsn, pbx=PBX, agi=agi)
            if dsn == DOWN_DSN:
                down = await Store.open(DatabaseSettings(Secret(dsn), connect_timeout=1.0))
                try:
                    await run_fastagi(settings, Callbacks(down.pool), peer)
                finally:
                    await down.close()
            else:
                await run_fastagi(settings, Callbacks(component_store.pool), peer)

        return fastagi

    request.node.exit_codes = exit_codes
    yield make
    assert all(rc == 0 for rc in exit_codes), exit_codes


def settings_for(db_dsn: str) -> Settings:
    return make_settings(db_dsn, pbx=PBX, agi=AGI)


async def open_attempts(store: Store) -> int:
    return int(
        await store.pool.fetchval(
            "SELECT count(*) FROM callback_attempts WHERE dial_status IS NULL OR ended_at IS NULL"
        )
    )


async def waiting_numbers(store: Store) -> list[str]:
    rows = await Callbacks(store.pool).waiting(
        ["*"], datetime.now(UTC) - timedelta(days=14), datetime.now(UTC)
    )
    return [r.number_key for r in rows]


def walk_keys() -> list[str]:
    # "#" repeat A; "3" A handled; "5" invalid; "2" skip B; "1" call C (answered).
    return ["#", "3", "5", "2", "1"]


async def test_full_menu_walk(mode, db_dsn: str, store: Store) -> None:
    ids = {n: await add_missed(store, n, m) for n, m in ((C, 300), (B, 200), (A, 100))}
    await add_missed(store, C, 400)  # C called twice
    peer = AgiPeer(env("menu", "100"), keys=walk_keys(), dial=("ANSWER", 42))
    await mode(db_dsn, AGI)(peer)

    assert peer.unexpected == []
    assert peer.status() == "OK"
    assert peer.played[:3] == ["conf-thereare", "SAY NUMBER:3", "queue-quantity2"]
    # The newest caller comes first, digit by digit, with when they called.
    first = peer.played.index("SAY DIGITS:2125550101")
    assert peer.played[first - 1] == "telephone-number"
    assert peer.played[first + 1] == "vm-received"
    assert peer.played[first + 2].startswith("SAY DATETIME:")
    assert peer.played.count("SAY DIGITS:2125550101") == 2  # "#" repeated it
    assert "pm-invalid-option" in peer.played and "removed" in peer.played
    # C called twice: "for second time" (tests/db/test_agi_menu_words.py has the words).
    twice = peer.played.index("digits/h-2")
    assert peer.played[twice - 1 : twice + 2] == ["vm-for", "digits/h-2", "time"]
    # At the end, who still waits (B, skipped): "you have one call waiting", goodbye.
    assert peer.played[-4:] == ["vm-youhave", "SAY NUMBER:1", "call-waiting", "vm-goodbye"]
    # Dial: the number from the database, the neutral caller ID, nothing else.
    assert peer.execs == [("Dial", "PJSIP/2125550103@carrier,45,g")]
    assert ("CALLERID(num)", "+12125550100") in peer.set_variables
    assert ("CALLERID(name)", "Appointments") in peer.set_variables
    assert ("CALLBACK_DESK_DIALSTATUS", "ANSWER") in peer.set_variables

    rows = await store.pool.fetch("SELECT * FROM callback_attempts")
    assert [(r["call_id"], r["extension"], r["dial_status"], r["talk_seconds"]) for r in rows] == [
        (ids[C], "100", "ANSWER", 42)
    ]
    assert rows[0]["ended_at"] is not None
    disp = await store.pool.fetch(
        "SELECT call_id, number_key, disposition FROM caller_dispositions"
    )
    assert [tuple(d) for d in disp] == [(ids[A], A, "handled")]
    # A handled and C answered are resolved; B is still waiting.
    assert await waiting_numbers(store) == [B]


async def test_never_again_then_exit(mode, db_dsn: str, store: Store) -> None:
    await add_missed(store, A, 10)
    await add_missed(store, B, 20)
    peer = AgiPeer(env("menu", "100"), keys=["7", "*"])
    await mode(db_dsn, AGI)(peer)
    assert peer.unexpected == [] and peer.status() == "OK"
    assert peer.execs == []
    assert peer.played[-1] == "vm-goodbye"
    assert await waiting_numbers(store) == [B]
    never = await store.pool.fetchval("SELECT disposition FROM caller_dispositions")
    assert never == "never"
    # "never" resolves every later call from that number too.
    await add_missed(store, A, 1)
    assert await waiting_numbers(store) == [B]


async def test_silence_repeats_then_says_goodbye(mode, db_dsn: str, store: Store) -> None:
    await add_missed(store, A, 10)
    peer = AgiPeer(env("menu", "100"), keys=[])
    await mode(db_dsn, AGI)(peer)
    assert peer.unexpected == [] and peer.status() == "OK"
    waits = [c for c in peer.commands if c.name == "WAIT FOR DIGIT"]
    assert [c.args for c in waits] == [["1000"], ["1000"]]  # retries = 2, digit_timeout = 1 s
    assert peer.played.count("SAY DIGITS:2125550101") == 2
    assert peer.played[-1] == "vm-goodbye"
    assert await waiting_numbers(store) == [A]


async def test_a_key_pressed_during_the_count_answers_the_first_caller(
    mode, db_dsn: str, store: Store
) -> None:
    await add_missed(store, A, 10)
    peer = AgiPeer(env("menu", "100"), keys=["*"], press={"call-waiting": "2"})
    await mode(db_dsn, AGI)(peer)
    # "2" during the count skipped A before it was announced; the list ended.
    assert "SAY DIGITS:2125550101" not in peer.played
    assert peer.played[-4:] == ["vm-youhave", "SAY NUMBER:1", "call-waiting", "vm-goodbye"]
    assert peer.keys == ["*"]


async def test_invalid_keys_use_up_the_retries(mode, db_dsn: str, store: Store) -> None:
    await add_missed(store, A, 10)
    peer = AgiPeer(env("menu", "100"), keys=["9", "0"])
    await mode(db_dsn, AGI)(peer)
    assert peer.played.count("pm-invalid-option") == 2
    assert peer.status() == "OK" and peer.execs == [] and peer.unexpected == []


async def test_nobody_waiting(mode, db_dsn: str, store: Store) -> None:
    peer = AgiPeer(env("menu", "100"))
    await mode(db_dsn, AGI)(peer)
    assert peer.played == ["conf-thereare", "vm-no", "queue-quantity2", "vm-goodbye"]
    assert peer.status() == "OK" and peer.unexpected == []


async def test_extension_hears_only_its_own_lines(mode, db_dsn: str, store: Store) -> None:
    await add_missed(store, A, 10, did="2000", rang=("100",))
    await add_missed(store, B, 20, did="2001", rang=("101",))
    scoped = {**AGI, "extensions": {"100": ["2000"], "101": ["2001"], "200": ["*"]}}
    peer = AgiPeer(env("menu", "101"), keys=["*"])
    peer.env["agi_arg_2"] = "101"
    await mode(db_dsn, scoped)(peer)
    assert "SAY DIGITS:2125550102" in peer.played
    assert "SAY DIGITS:2125550101" not in peer.played


async def test_database_down_apologises_and_takes_the_failure_path(mode) -> None:
    peer = AgiPeer(env("menu", "100"), keys=["1"])
    await mode(DOWN_DSN, AGI)(peer)
    assert peer.unexpected == []
    assert peer.played == ["im-sorry", "please-try-call-later"]
    assert peer.status() == "FAILED"
    assert peer.execs == []


async def test_dial_by_id(mode, db_dsn: str, store: Store) -> None:
    call_id = await add_missed(store, A, 10)
    peer = AgiPeer(env("dial", str(call_id), "100", uniqueid="cbd-0123"), dial=("NOANSWER", 0))
    await mode(db_dsn, AGI)(peer)
    assert peer.unexpected == [] and peer.status() == "OK"
    assert peer.execs == [("Dial", "PJSIP/2125550101@carrier,45,g")]
    row = await store.pool.fetchrow("SELECT * FROM callback_attempts")
    assert (row["call_id"], row["channel_id"], row["dial_status"]) == (
        call_id,
        "cbd-0123",
        "NOANSWER",
    )
    assert await waiting_numbers(store) == [A]  # not answered: still waiting


async def test_dial_unknown_id_is_refused(mode, db_dsn: str, store: Store) -> None:
    peer = AgiPeer(env("dial", "999999", "100"))
    await mode(db_dsn, AGI)(peer)
    assert peer.status() == "REFUSED" and peer.execs == []
    assert peer.played == ["cannot-complete-as-dialed"]
    assert await store.pool.fetchval("SELECT count(*) FROM callback_attempts") == 0


async def test_dial_withheld_number_is_refused(mode, db_dsn: str, store: Store) -> None:
    call_id = await add_missed(store, "anonymous", 10, callable_=False)
    peer = AgiPeer(env("dial", str(call_id), "100"))
    await mode(db_dsn, AGI)(peer)
    assert peer.status() == "REFUSED" and peer.execs == []


async def test_hostile_stored_number_never_reaches_dial(mode, db_dsn: str, store: Store) -> None:
    call_id = await add_missed(store, A, 10)
    await store.pool.execute(
        "UPDATE calls SET number_key = $1 WHERE id = $2",
        "5551234@phones&Local/19005550199",
        call_id,
    )
    peer = AgiPeer(env("dial", str(call_id), "100"))
    await mode(db_dsn, AGI)(peer)
    assert peer.status() == "REFUSED" and peer.execs == []


async def test_hang_up_during_dial_still_finishes_the_attempt(
    mode, db_dsn: str, store: Store
) -> None:
    await add_missed(store, A, 10)
    peer = AgiPeer(env("menu", "100"), keys=["1"], hangup_during_dial=True)
    await mode(db_dsn, AGI)(peer)
    assert peer.unexpected == [] and peer.status() == "HANGUP"
    row = await store.pool.fetchrow("SELECT dial_status, ended_at FROM callback_attempts")
    assert row["dial_status"] == "CANCEL" and row["ended_at"] is not None


async def test_hang_up_at_every_step_leaves_no_half_written_rows(
    mode, db_dsn: str, store: Store
) -> None:
    for n, m in ((C, 300), (B, 200), (A, 100)):
        await add_missed(store, n, m)
    run = mode(db_dsn, AGI)
    full = AgiPeer(env("menu", "100"), keys=walk_keys())
    await run(full)
    final = [
        i for i, c in enumerate(full.commands, start=1) if c.args[:1] == ["CALLBACK_DESK_STATUS"]
    ][-1]
    assert full.execs and final > 20
    dial_step = next(i for i, c in enumerate(full.commands, start=1) if c.name == "EXEC")
    for step in range(1, final):
        await store.pool.execute("DELETE FROM callback_attempts; DELETE FROM caller_dispositions")
        peer = AgiPeer(env("menu", "100"), keys=walk_keys(), hangup_at=step)
        await run(peer)
        assert peer.unexpected == [], step
        assert peer.dead and peer.status() == "HANGUP", (step, peer.commands[step - 1])
        # After the hang-up only dead-channel commands (the outcome and the status), except the
        # one command that may cross the hang-up notice in flight (it gets 511, nothing runs).
        live = [c for c in peer.commands[step:] if c.name not in ("SET VARIABLE", "GET VARIABLE")]
        assert len(live) <= 1 and (not live or live[0] is peer.commands[step]), (step, live)
        assert await open_attempts(store) == 0, step
        # An attempt exists exactly when Dial() ran (it was sent and not refused as dead).
        dialled = step > dial_step
        attempts = await store.pool.fetch("SELECT dial_status FROM callback_attempts")
        assert [a["dial_status"] for a in attempts] == (["ANSWER"] if dialled else []), step


async def test_classic_agi_outlives_the_sighup_of_a_hang_up(
    db_dsn: str, store: Store, tmp_path: Path
) -> None:
    # Asterisk signals a classic AGI with SIGHUP when the channel hangs up (AGISIGHUP defaults
    # to yes). Unhandled, SIGHUP ends a Python process at once: the attempt would stay open and
    # the dialplan would never get its status. The desk hangs up during Dial() here.
    await add_missed(store, A, 10)
    config = tmp_path / "callback-desk.toml"
    config.write_text(toml_text({"database": {"dsn": db_dsn}, "pbx": PBX, "agi": AGI}))
    peer = AgiPeer(env("menu", "100"), keys=["1"], hangup_during_dial=True)
    rc, err = await run_classic(config, peer)  # sends the script SIGHUP when the peer hangs up
    assert peer.dead and peer.execs, "the channel hung up during Dial()"
    assert (rc, peer.status()) == (0, "HANGUP"), (rc, -signal.SIGHUP, err)
    row = await store.pool.fetchrow("SELECT dial_status, ended_at FROM callback_attempts")
    assert row["dial_status"] == "CANCEL" and row["ended_at"] is not None


@pytest.mark.parametrize("how", ["called_back", "never", "handled", "too_old"])
async def test_dial_refuses_a_call_no_longer_awaiting_a_callback(
    mode, db_dsn: str, store: Store, how: str
) -> None:
    # The attack: walk call ids in dial mode to ring callers already returned or marked never.
    call_id = await add_missed(store, A, 60 * 24 * 20 if how == "too_old" else 10)
    callbacks = Callbacks(store.pool)
    if how == "called_back":
        attempt = await callbacks.start_attempt(call_id, "101", None)
        await callbacks.finish_attempt(attempt, "ANSWER", 30)
    elif how != "too_old":
        await callbacks.dispose(call_id, A, Disposition(how), "101")
    before = await store.pool.fetchval("SELECT count(*) FROM callback_attempts")
    peer = AgiPeer(env("dial", str(call_id), "100"))
    await mode(db_dsn, AGI)(peer)
    assert peer.status() == "REFUSED" and peer.execs == []
    assert peer.played == ["cannot-complete-as-dialed"]
    assert await store.pool.fetchval("SELECT count(*) FROM callback_attempts") == before


async def test_menu_rechecks_the_policy_before_dialling(mode, db_dsn: str, store: Store) -> None:
    # Another desk marks the caller "never" while this desk listens to the number: the key 1
    # that follows must not ring them.
    call_id = await add_missed(store, A, 10)
    peer = AgiPeer(env("menu", "100"), keys=["1"])

    async def mark_never() -> None:
        await Callbacks(store.pool).dispose(call_id, A, Disposition.NEVER, "101")

    peer.before["WAIT FOR DIGIT"] = mark_never
    await mode(db_dsn, AGI)(peer)
    assert peer.execs == [] and peer.status() == "REFUSED"


@pytest.mark.parametrize(
    ("status", "talk", "stored"),
    [
        ("ANSWER", "1e999", ("ANSWER", 0)),
        ("ANSWER", "nan", ("ANSWER", 0)),
        ("ANSWER", "-5", ("ANSWER", 0)),
        ("ANSWER", "99999999999999999999", ("ANSWER", 0)),
        ("ANSWER", "\u0663", ("ANSWER", 0)),
        ("\u00c9VIL", "3", ("UNKNOWN", 0)),
        ("ANSWER" * 20, "3", ("UNKNOWN", 0)),
    ],
)
async def test_hostile_dial_replies_end_the_session_cleanly(
    mode, db_dsn: str, store: Store, status: str, talk: str, stored: tuple[str, int]
) -> None:
    call_id = await add_missed(store, A, 10)
    peer = AgiPeer(env("dial", str(call_id), "100"), dial=(status, talk))
    await mode(db_dsn, AGI)(peer)
    assert peer.status() == "OK"
    row = await store.pool.fetchrow("SELECT dial_status, talk_seconds FROM callback_attempts")
    assert (row["dial_status"], row["talk_seconds"]) == stored
    assert ("CALLBACK_DESK_DIALSTATUS", stored[0]) in peer.set_variables


async def test_an_overlong_channel_id_is_not_stored(mode, db_dsn: str, store: Store) -> None:
    call_id = await add_missed(store, A, 10)
    peer = AgiPeer(env("dial", str(call_id), "100", uniqueid="x" * 5000))
    await mode(db_dsn, AGI)(peer)
    assert peer.status() == "OK"
    assert await store.pool.fetchval("SELECT channel_id FROM callback_attempts") is None


async def test_the_classic_agi_reaches_the_count_without_asyncio_or_asyncpg(
    db_dsn: str, store: Store, tmp_path: Path
) -> None:
    # Asterisk starts a process per *47: importing asyncpg and asyncio alone took longer than
    # the desk may wait for the count (bench/agi.py). The whole session, imports included:
    peer, rc, err = await _classic_menu(db_dsn, store, tmp_path, ("-X", "importtime"))
    assert rc == 0 and "SAY DIGITS:2125550101" in peer.played and peer.status() == "OK"
    imported = {line.rpartition("|")[2].strip() for line in err.splitlines() if "|" in line}
    assert "agi.classic" in imported and "asterisk.agi" in imported  # pyst2 speaks AGI here
    assert not {m for m in imported if m.split(".")[0] in ("asyncio", "asyncpg")}


# Run as ``python -c FIRST_PROMPT -m agi ...``: the classic entry as Asterisk starts it, with the
# protocol stream watched, so that the modules loaded when the desk first hears something (the
# caller count) are written to stderr. Imports after that are not the desk's wait.
FIRST_PROMPT = """
import sys


class FirstPrompt:
    def __init__(self, stream):
        self.stream, self.seen = stream, False

    def write(self, text):
        if not self.seen and text.upper().startswith(("STREAM FILE", "SAY ")):
            self.seen = True
            sys.__stderr__.write("first prompt: " + " ".join(sorted(sys.modules)) + "\\n")
        return self.stream.write(text)

    def __getattr__(self, name):
        return getattr(self.stream, name)


sys.stdout = FirstPrompt(sys.stdout)
sys.argv = ["agi", *sys.argv[3:]]  # what follows "-m agi"
import runpy

runpy.run_module("agi", run_name="__main__", alter_sys=True)
"""

# What the classic AGI must not load before the caller count: each is a library (or a part of
# this product) that the count does not need and that costs the desk milliseconds at every
# *47 (python -X importtime -m agi ...). A new import of one of them fails here; make it lazy.
NOT_BEFORE_THE_COUNT = (
    "asyncio",
    "asyncpg",
    "starlette",
    "jinja2",
    "phonenumbers",  # the metadata of every region; the count reads no number
    "argparse",
    "email",
    "http",
    "json",
    "sqlite3",
    "ssl",
    "decimal",
    "concurrent",
    "multiprocessing",
    "pickle",
    "logging",  # and so logging.handlers: the session's first line comes after the count
    "traceback",  # (callback_desk.core.lazylog)
    "grp",  # only a config error names a file's group
    # enum-heavy public modules: the login uses _socket (callback_desk.core.pgwire), the
    # SIGHUP handler _signal and the login's thread _thread (agi.classic, core.overlap)
    "socket",
    "selectors",
    "signal",
    "threading",
    # imported for what the count never does, with stand-ins (callback_desk.core.standin):
    # urllib.parse's ipaddress, pathlib's ntpath and fnmatch, pyst2's six (and pprint, signal)
    "ipaddress",
    "ntpath",
    "fnmatch",
    "six",
    "string",  # the opening line's check uses _string (callback_desk.core.opening)
    # The settings come from their snapshot (callback_desk.core.snapshot): tomllib compiled its
    # regexes at every start.
    "tomllib",
    # ~5 ms, and a NamedTuple compiled each string annotation: callback_desk.core.typeshim
    "typing",
    # dataclasses with the inspect, ast and dis it loads (~9 ms): the settings are records
    # (callback_desk.core.record), and pyst2's pprint, which loads it, waits for its first use
    # (agi.channel); the model's CallRecord is a dataclass, and only a disposition or a dial
    # reads the model (agi.queries).
    "dataclasses",
    "inspect",
    "ast",
    "dis",
    "pprint",
    "callback_desk.core.model",
    "ami_listener",
    "callback_desk.web",
    "callback_desk.report",
    "callback_desk.cli",
    "callback_desk.core.store",
    "agi.server",
    "agi.fastagi",
    "agi.runtime",
    "agi.policy",  # the first dial's (agi.handlers)
    "agi.dialing",
)


async def test_the_classic_agi_loads_only_what_the_caller_count_needs(
    db_dsn: str, store: Store, tmp_path: Path
) -> None:
    peer, rc, err = await _classic_menu(db_dsn, store, tmp_path, ("-c", FIRST_PROMPT))
    assert rc == 0 and peer.played[1] == "SAY NUMBER:1", (peer.played, err)  # the count
    line = next(line for line in err.splitlines() if line.startswith("first prompt: "))
    loaded = set(line.removeprefix("first prompt: ").split())
    assert {"agi.classic", "asterisk.agi", "callback_desk.core.pgwire"} <= loaded
    heavy = {m for m in loaded for x in NOT_BEFORE_THE_COUNT if m == x or m.startswith(x + ".")}
    assert not heavy, f"loaded before the caller count: {sorted(heavy)}"


async def _classic_menu(
    db_dsn: str, store: Store, tmp_path: Path, python: tuple[str, ...]
) -> tuple[AgiPeer, int, str]:
    """A *47 menu over ``python PYTHON... -m agi``, one caller waiting; the desk hangs up."""
    await add_missed(store, A, 10)
    config = tmp_path / "callback-desk.toml"
    config.write_text(toml_text({"database": {"dsn": db_dsn}, "pbx": PBX, "agi": AGI}))
    # The settings' snapshot, as an earlier *47 or `callback-desk doctor` keeps it.
    Settings.load(config, environ={}, keep_snapshot=True)
    peer = AgiPeer(env("menu", "100"), keys=["*"])
    rc, err = await run_classic(config, peer, python=python)
    return peer, rc, err


async def test_settings_that_fail_their_checks_end_the_classic_agi_before_its_early_login_is_used(
    db_dsn: str, tmp_path: Path
) -> None:
    # The snapshot names a database the session logs in to before the settings are checked
    # (agi.login); the checks still decide: one line, exit 2, nothing said to Asterisk.
    config = tmp_path / "callback-desk.toml"
    config.write_text(
        toml_text({"database": {"dsn": db_dsn}, "pbx": PBX, "agi": {**AGI, "db_timeout": 0.2}})
    )
    with pytest.raises(ConfigError, match="db_timeout"):
        load(Settings.load(config, environ={}, keep_snapshot=True))
    assert config.with_name(config.name + ".snapshot").exists()
    peer = AgiPeer(env("menu", "100"))
    rc, err = await run_classic(config, peer)
    assert rc == 2 and err.count("\n") == 1 and "db_timeout" in err, err
    assert peer.commands == []


async def test_a_dsn_only_asyncpg_reads_runs_the_same_classic_menu(
    db_dsn: str, store: Store, tmp_path: Path
) -> None:
    # A DSN parameter the small client leaves to asyncpg: the same session, over asyncpg.
    await add_missed(store, A, 10)
    dsn = db_dsn + ("&" if "?" in db_dsn else "?") + "passfile=/nonexistent/pgpass"
    config = tmp_path / "callback-desk.toml"
    config.write_text(toml_text({"database": {"dsn": dsn}, "pbx": PBX, "agi": AGI}))
    peer = AgiPeer(env("menu", "100"), keys=["3"])
    rc, err = await run_classic(config, peer, python=("-X", "importtime"))
    assert rc == 0, err
    assert "SAY DIGITS:2125550101" in peer.played and peer.status() == "OK"
    assert await waiting_numbers(store) == []  # key 3 (handled) reached the database
    assert any(line.rpartition("|")[2].strip() == "asyncpg" for line in err.splitlines())
