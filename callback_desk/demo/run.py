"""``callback-desk demo``: the whole pipeline with no PBX and no PostgreSQL of one's own.

An embedded PostgreSQL (pgserver's programs, the ``demo`` extra: see
:mod:`callback_desk.demo.embedded`) or a database created on ``--dsn``'s
server; the schema applied by the real migrations; a simulated PBX speaking AMI on 127.0.0.1;
the real listener logged in to it while it plays a morning recorded in the lab; then the real
morning report, the real desk-phone menu and the real callback inbox (handed in by the CLI,
see :mod:`callback_desk.demo.inbox`), as text. Everything it started is stopped and
everything it created is removed on the way out, unless ``--keep``: then its database, its
settings and a simulated PBX stay for ``callback-desk report`` and ``callback-desk web``, and one
``kill`` undoes them (:mod:`callback_desk.demo.kept`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import secrets
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import urlsplit, urlunsplit
from zoneinfo import ZoneInfo

from agi.channel import PYST_BUGS, PystChannel, SafeAGI
from agi.config import load as load_agi
from agi.runtime import open_callbacks
from agi.session import run_session
from ami_listener.listener import Listener
from callback_desk.core.config import DatabaseSettings, Secret, Settings
from callback_desk.core.exceptions import DemoError
from callback_desk.core.model import CallRecord, Outcome
from callback_desk.core.store import Store, connect
from callback_desk.demo import embedded
from callback_desk.demo.inbox import InboxParts, look
from callback_desk.demo.morning import CALLBACK_NUMBER, REPORT_AT, PlannedCall, morning_day, plan
from callback_desk.demo.pbx import SimulatedPbx
from callback_desk.demo.phone import TextPhone
from callback_desk.report.command import ReportOptions
from callback_desk.report.command import run as run_report

logger = logging.getLogger(__name__)

TIMEZONE = "America/New_York"
DESK = "100"
USER = "jane"  # the inbox's demo user: a therapist at desk 100
# Seconds between two calls of the morning, so that the terminal shows them one by one.
PACE = 0.15
CONFIG_NAME = "callback-desk.toml"
HEADER = """\
# The settings of a kept `callback-desk demo --keep`: its database, its simulated PBX (the
# [ami] account), its practice (New York, US numbers). Use with CALLBACK_DESK_CONFIG=this file.
"""


@dataclass(frozen=True)
class DemoOptions:
    keep: bool = False
    dsn: str | None = None  # a PostgreSQL server to create the demo database on
    inbox: InboxParts | None = None  # the real inbox, from the CLI; None: the demo skips it


class Progress:
    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.started = time.monotonic()

    def say(self, text: str = "") -> None:
        self.out.write(text + "\n")
        self.out.flush()

    def step(self, text: str) -> None:
        self.say(f"  ✓ {text} ({time.monotonic() - self.started:.1f} s)")


@dataclass
class Kept:
    """What ``--keep`` leaves behind, and how to undo it (printed at the end)."""

    directory: Path
    dsn: str = ""
    server: embedded.Embedded | None = None  # the embedded PostgreSQL
    database: str = ""  # a database made on --dsn's server
    pbx_pid: int = 0


@contextlib.asynccontextmanager
async def embedded_postgres(kept: Kept, progress: Progress, keep: bool) -> AsyncIterator[str]:
    server = await asyncio.to_thread(embedded.start, kept.directory)
    progress.step(
        f"embedded PostgreSQL started in {kept.directory}"
        + (
            f" as user {server.user} (PostgreSQL does not run as root; no account was added)"
            if server.user
            else ""
        )
    )
    finished = False
    try:
        yield server.dsn
        finished = True
    finally:
        if keep and finished:
            kept.server = server
        else:
            await asyncio.to_thread(server.stop)


@contextlib.asynccontextmanager
async def scratch_database(
    server_dsn: str, kept: Kept, progress: Progress, keep: bool
) -> AsyncIterator[str]:
    name = f"callback_desk_demo_{uuid.uuid4().hex[:8]}"
    conn = await connect(DatabaseSettings(Secret(server_dsn), connect_timeout=10))
    finished = False
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
        progress.step(f"database {name} created")
        yield urlunsplit(urlsplit(server_dsn)._replace(path="/" + name))
        finished = True
    finally:
        if keep and finished:
            kept.database = name
        else:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.close()


class RecordingSink:
    """The listener's sink: the real store, and a line on the terminal per decided call."""

    def __init__(self, store: Store, calls: dict[str, PlannedCall], progress: Progress) -> None:
        self._store = store
        self._calls = calls
        self._progress = progress
        self.recorded: set[str] = set()
        self.changed = asyncio.Event()

    async def record_calls(self, pbx: str, calls: Sequence[CallRecord]) -> int:
        # One at a time: the demo prints a line per call, and a morning is a few dozen calls.
        return sum([await self._record_call(pbx, call) for call in calls])

    async def _record_call(self, pbx: str, call: CallRecord) -> bool:
        inserted = await self._store.record_call(pbx, call)
        planned = self._calls.get(call.linkedid)
        if planned is not None:
            outcome = str(call.outcome)
            verdict = (
                f"MISSED ({str(call.reason).replace('_', ' ')})"
                if outcome == Outcome.MISSED
                else outcome.replace("_", " ")
            )
            self._progress.say(
                f"    {planned.start:%H:%M}  {planned.call.who:<20} → {planned.call.line:<27}"
                f" {verdict}"
            )
        self.recorded.add(call.linkedid)
        self.changed.set()
        return inserted


def demo_config(dsn: str, ami_port: int, ami_secret: str) -> dict[str, dict[str, Any]]:
    """The demo's settings as the sections of a config file (the kept demo writes them)."""
    return {
        "database": {"dsn": dsn},
        "ami": {"port": ami_port, "secret": ami_secret, "ping_interval": 30},
        "pbx": {
            "name": "demo",
            "inbound_contexts": ["from-pstn"],
            "timezone": TIMEZONE,
            "country": "US",
        },
        # The lab's voicemail events trail the last hang-up by well under this.
        # A recorded day is replayed: its Timestamps are days old, and meant to be.
        "listener": {"settle_seconds": 0.2, "max_clock_skew": 0},
        "report": {"first_name": "Jane", "timezone": TIMEZONE},
        "agi": {"callback_number": CALLBACK_NUMBER, "callback_name": "J Smith"},
    }


def demo_settings(dsn: str, ami_port: int, ami_secret: str, web_secret: str) -> Settings:
    config = demo_config(dsn, ami_port, ami_secret)
    return Settings.from_mapping({**config, "web": {"secret": web_secret}}, environ={})


def toml(config: dict[str, dict[str, Any]]) -> str:
    """A config file for :func:`demo_config`'s values (strings, numbers, lists of strings)."""

    def value(v: Any) -> str:
        if isinstance(v, list):
            return "[" + ", ".join(value(item) for item in v) + "]"
        # A JSON string of printable text is a TOML basic string.
        return json.dumps(v) if isinstance(v, str) else repr(v)

    lines = []
    for section, table in config.items():
        lines += ["", f"[{section}]"] + [f"{key} = {value(v)}" for key, v in table.items()]
    return "\n".join(lines).lstrip("\n") + "\n"


async def keep_running(kept: Kept, settings: Settings) -> None:
    """Write the demo's settings into its directory and leave the simulated PBX running there,
    in a process of its own that undoes everything when it is killed (demo.kept)."""
    secret_file = kept.directory / "web.secret"
    config_file = kept.directory / CONFIG_NAME
    listening = socket.create_server(("127.0.0.1", 0))
    with listening:
        port = listening.getsockname()[1]
        ami_secret = settings.ami.require_secret().reveal()
        config = demo_config(kept.dsn, port, ami_secret)
        config["web"] = {"secret_file": str(secret_file)}
        for path, text in (
            (secret_file, secrets.token_urlsafe(32) + "\n"),
            (config_file, HEADER + toml(config)),
        ):
            # Both hold secrets: the owner's alone (the web secret is refused otherwise).
            path.touch(mode=0o600)
            path.write_text(text, "utf-8")
        argv = [sys.executable, "-m", "callback_desk.demo.kept", "--config", str(config_file)]
        argv += ["--fd", str(listening.fileno())]
        if kept.server is not None:
            argv += ["--postgres", str(kept.server.directory)]
            argv += ["--install", str(kept.server.install)]
            argv += ["--user", kept.server.user] if kept.server.user else []
        pid = _detached(argv, listening, kept.directory / "kept.log")
    try:
        async with asyncio.timeout(10):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            banner = await reader.readline()
            writer.close()
    except (OSError, TimeoutError) as exc:
        banner = repr(exc).encode()
    if banner.startswith(b"Asterisk Call Manager/"):
        kept.pbx_pid = pid
    else:
        os.kill(pid, signal.SIGKILL)
        raise DemoError(f"the kept simulated PBX did not start (see {kept.directory / 'kept.log'})")


async def play_morning(
    settings: Settings, store: Store, pbx: SimulatedPbx, calls: list[PlannedCall], p: Progress
) -> None:
    expected = {c.linkedid: c for c in calls if c.call.recorded}
    sink = RecordingSink(store, expected, p)
    listener = Listener(settings, sink)
    task = asyncio.create_task(listener.run(), name="demo-listener")
    try:
        async with asyncio.timeout(10):
            await listener.wait_logged_in()
        p.step(f"the real listener logged in to the simulated PBX at 127.0.0.1:{pbx.port}")
        day = calls[0].start
        p.say()
        p.say(f"  {day:%A %d %B}, a morning's calls (recorded from a real Asterisk, replayed):")
        for planned in calls:
            await pbx.send(planned.frames)
            if planned.call.recorded:
                await _decided(sink, planned)
            else:
                p.say(
                    f"    {planned.start:%H:%M}  {planned.call.who:<20} → {planned.call.line:<27}"
                    " not recorded (internal)"
                )
            await asyncio.sleep(PACE)
    finally:
        listener.stop()
        async with asyncio.timeout(10):
            await task


async def _decided(sink: RecordingSink, planned: PlannedCall) -> None:
    """Wait for the listener to decide this call (after [listener] settle_seconds)."""
    try:
        async with asyncio.timeout(10):
            while planned.linkedid not in sink.recorded:
                sink.changed.clear()
                await sink.changed.wait()
    except TimeoutError as exc:
        raise DemoError(
            f"the listener did not decide the {planned.start:%H:%M} call within 10 s"
        ) from exc


async def desk_phone(settings: Settings, now: datetime, tz: ZoneInfo) -> str:
    """``*47`` on desk 100: hear the count and the first caller, press 2, hear the next, then *."""
    cfg = load_agi(settings)
    phone = TextPhone(DESK, ["2", "*"], now)
    async with open_callbacks(settings, cfg, max_size=1) as callbacks:
        channel = PystChannel(SafeAGI(phone, phone, threading.Event()))  # type: ignore[arg-type]
        await run_session(channel, callbacks, cfg, tz, lambda: now, bugs=PYST_BUGS)
    if phone.unexpected:
        raise DemoError(f"the menu sent an unexpected AGI command: {phone.unexpected[0]}")
    return phone.transcript()


async def inbox(parts: InboxParts, settings: Settings, p: Progress) -> None:
    """The real inbox page of a therapist at desk 100, signed in to, as text."""
    store = await Store.open(settings.database, max_size=2)
    try:
        cards = await look(parts, settings, store, DESK, USER)
    finally:
        await store.close()
    p.say(
        f"  The callback inbox: {USER} (therapist, desk {DESK}) signs in (callback-desk web, "
        "as text):"
    )
    p.say()
    for card in cards:
        for line in card.lines():
            p.say(f"    {line}")
        p.say()
    if not cards:
        p.say("    Nobody is waiting for a callback.")
        p.say()


async def run(options: DemoOptions, out: TextIO) -> int:
    p = Progress(out)
    tz = ZoneInfo(TIMEZONE)
    p.say("Callback Desk demo: a simulated PBX, an embedded database, the real listener.")
    # Private: as root the embedded PostgreSQL makes it its own (demo.embedded); with --keep
    # it holds the demo's settings and secrets.
    kept = Kept(Path(tempfile.mkdtemp(prefix="callback-desk-demo-")))
    try:
        await _run(options, kept, p, tz, out)
    except BaseException:
        # Kept only when the demo finished: a failed run leaves nothing behind either.
        if kept.pbx_pid:  # it stops the server and removes the directory itself
            os.kill(kept.pbx_pid, signal.SIGTERM)
        else:
            if kept.server is not None:
                await asyncio.to_thread(kept.server.stop)
            shutil.rmtree(kept.directory, ignore_errors=True)
        raise
    if not options.keep:
        shutil.rmtree(kept.directory, ignore_errors=True)
    p.say(
        f"Done in {time.monotonic() - p.started:.1f} s; "
        + ("the demo was kept (see above)." if options.keep else "nothing left running or on disk.")
    )
    return 0


async def _run(options: DemoOptions, kept: Kept, p: Progress, tz: ZoneInfo, out: TextIO) -> None:
    databases: Any = (
        scratch_database(options.dsn, kept, p, options.keep)
        if options.dsn
        else embedded_postgres(kept, p, options.keep)
    )
    async with databases as dsn:
        kept.dsn = dsn
        ami_secret = secrets.token_hex(8)
        pbx = SimulatedPbx("callbackdesk", ami_secret)
        await pbx.start()
        try:
            settings = demo_settings(dsn, pbx.port, ami_secret, secrets.token_urlsafe(32))
            store = await Store.open(settings.database, max_size=2)
            try:
                applied = await store.migrate()
                p.step(f"schema created: {', '.join(m.name for m in applied)}")
                p.step(f"simulated PBX speaking AMI on 127.0.0.1:{pbx.port}")
                day = morning_day(datetime.now(tz))
                await play_morning(settings, store, pbx, plan(day, tz), p)
            finally:
                await store.close()
        finally:
            await pbx.close()
        now = datetime.combine(day, REPORT_AT, tz)
        p.say()
        p.say(f"  The morning report at {now:%H:%M} (callback-desk report):")
        p.say()
        await run_report(settings, ReportOptions(week=False), out, now)
        p.say()
        p.say(f"  The desk phone: desk {DESK} dials *47 (the AGI menu, as text):")
        p.say()
        for line in (await desk_phone(settings, now, tz)).splitlines():
            p.say(f"    {line}")
        p.say()
        if options.inbox is not None:
            await inbox(options.inbox, settings, p)
    if options.keep:
        await keep_running(kept, settings)
        say_kept(kept, now, p)
    else:
        p.say(
            "  To open the real inbox in a browser: callback-desk demo --keep, then "
            "callback-desk user add and callback-desk web (it prints how)."
        )


def _detached(argv: list[str], listening: socket.socket, log: Path) -> int:
    """Start ``argv`` in a session of its own (the terminal's Ctrl-C and hang-up do not reach
    it; nothing here waits for it), handing it ``listening``; its output goes to ``log``."""
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        listening.set_inheritable(True)
        return os.posix_spawn(
            argv[0],
            argv,
            os.environ,
            setsid=True,
            file_actions=[
                (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                (os.POSIX_SPAWN_DUP2, fd, 1),
                (os.POSIX_SPAWN_DUP2, fd, 2),
            ],
        )
    finally:
        os.close(fd)


def say_kept(kept: Kept, now: datetime, p: Progress) -> None:
    config = kept.directory / CONFIG_NAME
    p.say(f"  Kept in {kept.directory}: the demo's settings ({CONFIG_NAME}), its database and")
    p.say(f"  its simulated PBX. Look at the calls again ({TIMEZONE} time) with:")
    p.say(f"    export CALLBACK_DESK_CONFIG={config}")
    p.say(f"    callback-desk report --all --until {now:%Y-%m-%dT%H:%M}")
    p.say(f"  and open the real inbox (you, at desk {DESK}) on http://localhost:8047 with:")
    p.say(f"    callback-desk user add me --extension {DESK} && callback-desk web")
    p.say(
        f'  There, "Call from my desk phone" reaches the simulated PBX, which answers as desk '
        f"{DESK} would and dials nobody."
    )
    what = "the simulated PBX" + (" and PostgreSQL" if kept.server is not None else "")
    p.say(f"  To stop {what} and remove {kept.directory} (stop callback-desk web first):")
    p.say(f"    kill {kept.pbx_pid}")
    if kept.database:
        p.say(
            f'  The database {kept.database} stays on your server: DROP DATABASE "{kept.database}"'
        )
