"""AGI start: from the desk phone's session starting to the first prompt that says something.

The first informative prompt is the count of callers waiting (``SAY NUMBER n``, or the "no"
of "There are currently no callers waiting" when nobody waits): before it the desk hears
nothing useful. Measured in the harness's own clock, against a scratch database holding two
weeks of a small practice:

- **FastAGI, the whole office**: ``callback-desk agi serve`` as its own process on a real socket;
  the harness plays Asterisk (:class:`fakes.agi_peer.AgiPeer`, strict). First ``held`` menus are
  opened and left waiting for a key (a desk that has heard its first caller and not pressed
  anything yet), and stay open for the whole run. Then, in the same run: desks one at a time,
  and bursts of ``concurrency`` desks arriving at once. Each is timed from ``connect()`` to the
  count, then presses 2 (next caller) and is timed from its key to the next prompt. The
  server's own CPU time over each phase, per session, is beside the latencies: it does not
  depend on what else the machine is doing.
- **classic AGI**: ``python -m agi --config … menu 100`` started per session, as Asterisk's
  ``AGI()`` does (the agi-bin wrapper of docs/calling-back.md), timed from process start to the
  prompt.
- **the floor**: the same interpreter running a ten-line script that reads the AGI
  environment and sends the prompt — what any Python classic AGI costs at least.

A timed desk hangs up once it has heard what is timed, so each session's end is the real
hang-up path too.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import signal
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench import scratch
from bench.table import Figure, ms, percentile
from callback_desk.core.config import DatabaseSettings, Secret
from callback_desk.core.model import CallRecord, Direction, Outcome, Reason
from callback_desk.core.store import Store
from fakes.agi_peer import AgiPeer, env, parse_args

# Any Python classic AGI pays at least this: start the interpreter, read the environment, speak.
FLOOR = """\
import sys
for line in sys.stdin:
    if not line.strip():
        break
sys.stdout.write('SAY NUMBER 0 "0123456789*#"\\n')
sys.stdout.flush()
sys.stdin.readline()
"""


@dataclass(frozen=True, slots=True)
class AgiSizes:
    held: int = 200  # menus held open, waiting for a key, for the whole FastAGI run
    single: int = 200  # desks one at a time
    bursts: int = 60  # rounds of `concurrency` desks arriving at once
    concurrency: int = 16
    classic_sessions: int = 200
    waiting_callers: int = 40


class TimedPeer(AgiPeer):
    """The strict fake Asterisk, noting when the first informative prompt arrives and hanging
    up right after it, whatever came before. With ``press``, it waits for the menu's first
    WAIT FOR DIGIT, presses that key, notes when the next command arrives and hangs up there."""

    prompt_at: float | None = None
    key: str = ""
    key_at: float | None = None
    next_at: float | None = None

    def _answer(self, raw: str) -> list[str]:
        now = time.perf_counter()
        if self.key_at is not None and self.next_at is None:
            self.next_at = now
            self.hangup_at = len(self.commands) + 1
        if self.prompt_at is None and _informative(raw):
            self.prompt_at = now
            if not self.key:
                self.hangup_at = len(self.commands) + 1
        if self.key and self.key_at is None and raw.startswith("WAIT FOR DIGIT"):
            self.keys = [self.key]
            self.key_at = time.perf_counter()
        return super()._answer(raw)


def _informative(raw: str) -> bool:
    """The count of callers (``SAY NUMBER``), or the word "no" (``vm-no``) when nobody waits."""
    if raw.startswith("SAY NUMBER "):
        return True
    if raw.startswith("STREAM FILE "):
        args = parse_args(raw.removeprefix("STREAM FILE "))
        return args is not None and args[:1] == ["vm-no"]
    return False


def _peer() -> TimedPeer:
    return TimedPeer(env("menu", "100"))


@dataclass(frozen=True, slots=True)
class Timed:
    count: float  # connect -> the caller count
    key: float  # key press -> the next prompt


def _check(peer: TimedPeer, what: str) -> float:
    if peer.unexpected:
        raise RuntimeError(f"{what}: unexpected AGI commands {peer.unexpected}")
    if peer.prompt_at is None:
        raise RuntimeError(f"{what}: the session never said how many callers wait: {peer.played}")
    return peer.prompt_at


async def seed(dsn: str, callers: int) -> None:
    """``callers`` waiting callers (some called twice) and as many answered calls, through the
    project's own store."""
    store = await Store.open(DatabaseSettings(dsn=Secret(dsn)), max_size=1)
    now = datetime.now(UTC)
    try:
        for i in range(callers * 2):
            number = f"+1212{3_000_000 + i % callers:07d}" if i % 4 else f"+1646{4_000_000 + i:07d}"
            start = now - timedelta(hours=5 + i * 3)
            outcome = Outcome.MISSED if i % 4 else Outcome.ANSWERED
            await store.record_call(
                "bench",
                CallRecord(
                    linkedid=f"agi-{i}",
                    direction=Direction.INBOUND,
                    outcome=outcome,
                    reason=Reason.HANGUP_WHILE_RINGING if i % 4 else Reason.ANSWERED,
                    number=number,
                    name="",
                    number_key=number,
                    callable=True,
                    did="2000",
                    rang=("PJSIP/100",),
                    started_at=start,
                    ended_at=start + timedelta(seconds=20),
                    ring_seconds=20.0,
                    reached_voicemail=False,
                ),
            )
        # As autovacuum would soon after: without statistics the planner guesses one row per
        # step and probes every caller's history once per missed call (10 ms instead of ~1).
        await store.pool.execute("ANALYZE")
    finally:
        await store.close()


async def _connect(port: int, peer: AgiPeer) -> None:
    peer.fastagi = True
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        await peer.run(reader, writer)
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()
    if peer.unexpected:
        raise RuntimeError(f"*47: unexpected AGI commands {peer.unexpected}")


async def session(port: int, extension: str = "100") -> float | None:
    """One ``*47`` over FastAGI: seconds from connect to the caller count, or None when the
    menu said something else first (it apologised: the database did not answer in time)."""
    peer = TimedPeer(env("menu", extension))
    t0 = time.perf_counter()
    await _connect(port, peer)
    return None if peer.prompt_at is None else peer.prompt_at - t0


async def desk(port: int) -> Timed:
    """``*47``, the count, the first caller, then key 2: both waits of a desk, timed."""
    peer = TimedPeer(env("menu", "100"))
    peer.key = "2"
    t0 = time.perf_counter()
    await _connect(port, peer)
    if peer.prompt_at is None or peer.key_at is None or peer.next_at is None:
        raise RuntimeError(f"FastAGI: the menu did not go as scripted: {peer.played}")
    return Timed(peer.prompt_at - t0, peer.next_at - peer.key_at)


class Held:
    """Menus opened and left waiting for a key, until :meth:`release` presses * on each."""

    def __init__(self) -> None:
        self.release_all = asyncio.Event()
        self.arrived = asyncio.Event()
        self.goal = 0
        self.waiting = 0
        self.tasks: list[asyncio.Task[None]] = []

    async def _hold(self) -> None:
        self.waiting += 1
        if self.waiting >= self.goal:
            self.arrived.set()
        await self.release_all.wait()

    async def open(self, port: int, count: int, batch: int) -> None:
        """Open ``count`` menus, ``batch`` at a time, each up to its first WAIT FOR DIGIT."""
        for start in range(0, count, batch):
            self.goal = min(count, start + batch)
            self.arrived.clear()
            for _ in range(start, self.goal):
                peer = AgiPeer(
                    env("menu", "100"), keys=["*"], before={"WAIT FOR DIGIT": self._hold}
                )
                self.tasks.append(asyncio.create_task(_connect(port, peer)))
            await self.arrived.wait()

    async def release(self) -> None:
        self.release_all.set()
        await asyncio.gather(*self.tasks)


@dataclass(frozen=True, slots=True)
class Phase:
    timed: list[Timed]
    cpu: float  # the server's CPU seconds over the phase


async def fastagi(config: Path, tmp: Path, sizes: AgiSizes) -> tuple[Phase, Phase, int, float]:
    async with scratch.agi_server_process(config, tmp / "fastagi.log") as (port, pid):
        await desk(port)  # the pool's first connections are not what a desk waits for
        held = Held()
        async with asyncio.timeout(600):
            await held.open(port, sizes.held, sizes.concurrency)
            rss = scratch.rss_mib(pid)
            # This process plays Asterisk, which has no garbage collector: its own pauses (a
            # full collection over 200 held menus took 86-126 ms on a loaded host) would land
            # in the server's tail. Nothing it makes while timing needs collecting.
            gc.collect()
            gc.freeze()
            gc.disable()
            try:
                cpu = scratch.cpu_seconds(pid)
                single = [await desk(port) for _ in range(sizes.single)]
                one = Phase(single, scratch.cpu_seconds(pid) - cpu)
                cpu = scratch.cpu_seconds(pid)
                burst: list[Timed] = []
                for _ in range(sizes.bursts):
                    burst += await asyncio.gather(*(desk(port) for _ in range(sizes.concurrency)))
                    await asyncio.sleep(0.05)  # the next burst arrives on a quiet server
                many = Phase(burst, scratch.cpu_seconds(pid) - cpu)
                still = held.waiting
            finally:
                gc.enable()
                gc.unfreeze()
                await held.release()
    return one, many, still, rss


def installed(cache: Path) -> dict[str, str]:
    """The environment of a process started as on an installed system: with byte code (pip
    compiles it at install time; here the warm-up run writes it under ``cache``), whatever
    PYTHONDONTWRITEBYTECODE the harness runs with."""
    environ = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    return {**environ, "PYTHONPYCACHEPREFIX": str(cache)}


async def _process_session(argv: list[str], environ: dict[str, str]) -> float:
    peer = _peer()
    t0 = time.perf_counter()
    proc = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
        cwd=scratch.REPO,
        env=environ,
    )
    assert proc.stdin is not None and proc.stdout is not None

    def hang_up() -> None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGHUP)

    peer.on_hangup = hang_up
    try:
        async with asyncio.timeout(30):
            await peer.run(proc.stdout, proc.stdin)
            proc.stdin.close()
            await proc.wait()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    return _check(peer, argv[-1]) - t0


async def _import_times(config: Path, out: Path, cache: Path) -> None:
    """Where a classic AGI's start goes: ``-X importtime``, heaviest imports first."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-X",
        "importtime",
        "-m",
        "agi",
        "--config",
        str(config),
        "menu",
        "100",
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
        cwd=scratch.REPO,
        env=installed(cache),
    )
    _, err = await proc.communicate()
    rows = []
    for line in err.decode("utf-8", "replace").splitlines():
        if line.startswith("import time:") and "|" in line:
            _self, cumulative, name = line.removeprefix("import time:").split("|", 2)
            if cumulative.strip().isdigit():
                rows.append((int(cumulative), name.rstrip()))
    rows.sort(reverse=True)
    out.write_text(
        "cumulative µs  module\n" + "".join(f"{us:>13,}  {name}\n" for us, name in rows[:60]),
        encoding="utf-8",
    )


async def processes(argv: list[str], sessions: int, cache: Path) -> list[float]:
    environ = installed(cache)
    await _process_session(argv, environ)  # the warm-up writes the byte code
    return [await _process_session(argv, environ) for _ in range(sessions)]


async def run(server: str, sizes: AgiSizes, profile: Path | None = None) -> list[Figure]:
    with tempfile.TemporaryDirectory(prefix="cbd-bench-agi-") as name:
        tmp = Path(name)
        async with scratch.database(server, "agi") as dsn:
            await seed(dsn, sizes.waiting_callers)
            config = scratch.write_config(
                tmp / "agi.toml",
                {
                    "database": {"dsn": dsn},
                    "pbx": {"name": "bench", "timezone": "UTC"},
                    # Every desk of the office in a session at once, held menus included; they
                    # wait for a key for the whole run (a real Asterisk answers after 6 s).
                    "agi": {
                        "max_sessions": sizes.held + sizes.concurrency + 8,
                        "reply_timeout": 3600.0,
                    },
                },
            )
            one, many, held, rss = await fastagi(config, tmp, sizes)
            classic = await processes(
                [sys.executable, "-m", "agi", "--config", str(config), "menu", "100"],
                sizes.classic_sessions,
                tmp / "pycache",
            )
            floor = await processes(
                [sys.executable, "-c", FLOOR], sizes.classic_sessions, tmp / "pycache"
            )
            if profile is not None:
                await _import_times(config, profile / "classic-imports.txt", tmp / "pycache")

    def p(values: list[float]) -> str:
        return f"p50 {ms(percentile(values, 50))}, p99 {ms(percentile(values, 99))}"

    def cpu(phase: Phase) -> str:
        return f"{phase.cpu * 1000 / len(phase.timed):.2f} ms"

    office = f"{held} menus held open"
    first = [t.count for t in one.timed]
    burst = [t.count for t in many.timed]
    keys = [t.key for t in one.timed + many.timed]
    return [
        Figure(
            "4 AGI start",
            f"FastAGI connect → caller count, one desk at a time, {len(first):,} sessions "
            f"({office}, {sizes.waiting_callers} callers waiting)",
            p(first),
            "p99 < 10 ms",
            percentile(first, 99) < 0.010,
        ),
        Figure(
            "4 AGI start",
            f"FastAGI connect → caller count, {sizes.concurrency} desks at once, "
            f"{len(burst):,} sessions ({office})",
            p(burst),
            "p99 < 20 ms",
            percentile(burst, 99) < 0.020,
        ),
        Figure(
            "4 AGI start",
            f"FastAGI key press → next prompt, {len(keys):,} presses, one at a time and "
            f"{sizes.concurrency} at once ({office})",
            p(keys),
            "p99 < 20 ms",
            percentile(keys, 99) < 0.020,
        ),
        Figure(
            "4 AGI start",
            "FastAGI server CPU per session (count, one key, hang-up), one at a time / "
            f"{sizes.concurrency} at once; server RSS with {office}",
            f"{cpu(one)} / {cpu(many)}; {rss:.1f} MiB",
        ),
        Figure(
            "4 AGI start",
            f"classic AGI process start → caller count, {len(classic):,} sessions",
            p(classic),
            "p50 < 60 ms",
            percentile(classic, 50) < 0.060,
        ),
        Figure(
            "4 AGI start",
            f"floor: bare interpreter start → first command, {len(floor):,} runs",
            p(floor),
        ),
    ]
