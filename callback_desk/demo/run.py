"""``callback-desk demo``: the whole pipeline with no PBX and no PostgreSQL of one's own.

An embedded PostgreSQL (pgserver, the ``demo`` extra) or a database created on ``--dsn``'s
server; the schema applied by the real migrations; a simulated PBX speaking AMI on 127.0.0.1;
the real listener logged in to it while it plays a morning recorded in the lab; then the real
morning report, the real desk-phone menu and the real callback inbox (handed in by the CLI,
see :mod:`callback_desk.demo.inbox`), as text. Everything it started is stopped and
everything it created is removed on the way out, unless ``--keep``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import shutil
import subprocess
import tempfile
import threading
import time
import uuid
import warnings
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import urlsplit, urlunsplit
from zoneinfo import ZoneInfo

import asyncpg

from agi.channel import PYST_BUGS, PystChannel, SafeAGI
from agi.config import load as load_agi
from agi.runtime import open_callbacks
from agi.session import run_session
from ami_listener.listener import Listener
from callback_desk.core.config import Settings
from callback_desk.core.exceptions import ConfigError, DemoError, StoreUnavailable
from callback_desk.core.model import CallRecord, Outcome
from callback_desk.core.store import Store
from callback_desk.demo.inbox import InboxParts, look
from callback_desk.demo.morning import REPORT_AT, PlannedCall, morning_day, plan
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


@contextlib.asynccontextmanager
async def embedded_postgres(progress: Progress, keep: bool) -> AsyncIterator[str]:
    try:
        with warnings.catch_warnings():
            # platformdirs warns at import time when XDG_RUNTIME_DIR is unset (root shells).
            warnings.simplefilter("ignore")
            import platformdirs

            # pgserver keeps a lock file in a runtime directory it creates on import: if it
            # is not there yet, it is the demo's to remove afterwards.
            runtime = platformdirs.user_runtime_path("python_PostgresServer")
            created = [p for p in (runtime.parent, runtime) if not p.exists()]
            import pgserver
    except ImportError as exc:
        raise ConfigError(
            "the demo's embedded PostgreSQL is not installed: pip install 'callback-desk[demo]' "
            "(or give a server with --dsn postgresql://...)"
        ) from exc
    data = Path(tempfile.mkdtemp(prefix="callback-desk-demo-"))
    # 'delete' stops the server and removes its files; None leaves both for --keep.
    try:
        server = await asyncio.to_thread(
            pgserver.get_server,  # type: ignore[attr-defined]
            data,
            cleanup_mode=None if keep else "delete",
        )
    except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
        # e.g. a TMPDIR so deep that PostgreSQL's socket path would be too long
        for made in (data, *created[:1]):
            shutil.rmtree(made, ignore_errors=True)
        raise DemoError(f"the embedded PostgreSQL did not start in {data}: {exc}") from exc
    progress.step(f"embedded PostgreSQL started in {data}")
    try:
        yield str(server.get_uri())
    finally:
        pid = server.get_pid()
        await asyncio.to_thread(server.cleanup)
        if not keep and created:
            shutil.rmtree(created[0], ignore_errors=True)
        if keep:
            progress.say(
                f"  Kept: PostgreSQL (pid {pid}) still runs on {data}; "
                f"to stop and remove it: kill {pid} && rm -r {data}"
            )


@contextlib.asynccontextmanager
async def scratch_database(server_dsn: str, progress: Progress, keep: bool) -> AsyncIterator[str]:
    name = f"callback_desk_demo_{uuid.uuid4().hex[:8]}"
    try:
        conn = await asyncpg.connect(server_dsn, timeout=10)
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        raise StoreUnavailable(f"cannot reach the PostgreSQL given with --dsn: {exc}") from exc
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
        progress.step(f"database {name} created")
        yield urlunsplit(urlsplit(server_dsn)._replace(path="/" + name))
    finally:
        if keep:
            progress.say(f'  Kept: database {name}; to remove it: DROP DATABASE "{name}"')
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


def demo_settings(dsn: str, ami_port: int, ami_secret: str, web_secret: str) -> Settings:
    return Settings.from_mapping(
        {
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
            "agi": {"callback_number": "+15550109999", "callback_name": "J Smith"},
            "web": {"secret": web_secret},
        },
        environ={},
    )


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
    phone = TextPhone(DESK, ["2", "*"], tz)
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
    databases: Any = (
        scratch_database(options.dsn, p, options.keep)
        if options.dsn
        else embedded_postgres(p, options.keep)
    )
    async with databases as dsn:
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
            p.say("  The demo's calls are still in the database; look again with:")
            p.say(
                f"    CALLBACK_DESK_CONFIG=/dev/null CALLBACK_DESK_DATABASE_DSN='{dsn}' "
                f"callback-desk report --all --until {now:%Y-%m-%dT%H:%M}"
            )
            p.say(f"  and open the real inbox (you, at desk {DESK}) on http://localhost:8047 with:")
            p.say(
                f"    export CALLBACK_DESK_CONFIG=/dev/null CALLBACK_DESK_DATABASE_DSN='{dsn}' "
                "CALLBACK_DESK_WEB_SECRET=$(openssl rand -hex 32)"
            )
            p.say(f"    callback-desk user add me --extension {DESK} && callback-desk web")
        else:
            p.say(
                "  To open the real inbox in a browser: callback-desk demo --keep, then "
                "callback-desk user add and callback-desk web (it prints how)."
            )
    p.say(
        f"Done in {time.monotonic() - p.started:.1f} s; "
        + ("the database was kept." if options.keep else "nothing left running or on disk.")
    )
    return 0
