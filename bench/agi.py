"""AGI start: from the desk phone's session starting to the first prompt that says something.

The first informative prompt is the count of callers waiting (``SAY NUMBER n``, or the "no
messages" file when nobody waits): before it the desk hears nothing useful. Measured in the
harness's own clock, against a scratch database holding two weeks of a small practice:

- **FastAGI**: ``callback-desk agi serve`` as its own process on a real socket; the harness
  plays Asterisk (:class:`fakes.agi_peer.AgiPeer`, strict), ``concurrency`` sessions at once,
  each timed from ``connect()`` to the prompt.
- **classic AGI**: ``python -m agi --config … menu 100`` started per session, as Asterisk's
  ``AGI()`` does (the agi-bin wrapper of docs/calling-back.md), timed from process start to the
  prompt.
- **the floor**: the same interpreter running a ten-line script that reads the AGI
  environment and sends the prompt — what any Python classic AGI costs at least.

The peer hangs up right after the prompt (as a desk that has heard enough), so each session's
end is the real hang-up path too.
"""

from __future__ import annotations

import asyncio
import contextlib
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
    fastagi_sessions: int = 1000
    concurrency: int = 16
    classic_sessions: int = 200
    waiting_callers: int = 40


class TimedPeer(AgiPeer):
    """The strict fake Asterisk, noting when the first informative prompt arrives and hanging
    up right after it, whatever came before."""

    prompt_at: float | None = None

    def _answer(self, raw: str) -> list[str]:
        if self.prompt_at is None and _informative(raw):
            self.prompt_at = time.perf_counter()
            self.hangup_at = len(self.commands) + 1
        return super()._answer(raw)


def _informative(raw: str) -> bool:
    """The count of callers (``SAY NUMBER``), or the "no messages" word when nobody waits."""
    if raw.startswith("SAY NUMBER "):
        return True
    if raw.startswith("STREAM FILE "):
        args = parse_args(raw.removeprefix("STREAM FILE "))
        return args is not None and args[:1] == ["vm-no"]
    return False


def _peer() -> TimedPeer:
    return TimedPeer(env("menu", "100"))


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
    finally:
        await store.close()


async def session(port: int, extension: str = "100") -> float | None:
    """One ``*47`` over FastAGI: seconds from connect to the caller count, or None when the
    menu said something else first (it apologised: the database did not answer in time)."""
    peer = TimedPeer(env("menu", extension))
    peer.fastagi = True
    t0 = time.perf_counter()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        await peer.run(reader, writer)
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()
    if peer.unexpected:
        raise RuntimeError(f"*47: unexpected AGI commands {peer.unexpected}")
    return None if peer.prompt_at is None else peer.prompt_at - t0


async def _fastagi_session(port: int) -> float:
    took = await session(port)
    if took is None:
        raise RuntimeError("FastAGI: the session never said how many callers wait")
    return took


async def fastagi(config: Path, tmp: Path, sizes: AgiSizes) -> list[float]:
    async with scratch.agi_server(config, tmp / "fastagi.log") as port:
        await _fastagi_session(port)  # the pool's first connection is not what a desk waits for
        slots = asyncio.Semaphore(sizes.concurrency)

        async def one() -> float:
            async with slots:
                return await _fastagi_session(port)

        async with asyncio.timeout(300):
            return list(await asyncio.gather(*(one() for _ in range(sizes.fastagi_sessions))))


async def _process_session(argv: list[str]) -> float:
    peer = _peer()
    t0 = time.perf_counter()
    proc = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
        cwd=scratch.REPO,
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


async def _import_times(config: Path, out: Path) -> None:
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


async def processes(argv: list[str], sessions: int) -> list[float]:
    return [await _process_session(argv) for _ in range(sessions)]


async def run(server: str, sizes: AgiSizes, profile: Path | None = None) -> list[Figure]:
    with tempfile.TemporaryDirectory(prefix="cbd-bench-agi-") as name:
        tmp = Path(name)
        async with scratch.database(server, "agi") as dsn:
            await seed(dsn, sizes.waiting_callers)
            config = scratch.write_config(
                tmp / "agi.toml",
                {"database": {"dsn": dsn}, "pbx": {"name": "bench", "timezone": "UTC"}},
            )
            fast = await fastagi(config, tmp, sizes)
            classic = await processes(
                [sys.executable, "-m", "agi", "--config", str(config), "menu", "100"],
                sizes.classic_sessions,
            )
            floor = await processes([sys.executable, "-c", FLOOR], sizes.classic_sessions)
            if profile is not None:
                await _import_times(config, profile / "classic-imports.txt")

    def p(values: list[float]) -> str:
        return f"p50 {ms(percentile(values, 50))}, p99 {ms(percentile(values, 99))}"

    return [
        Figure(
            "4 AGI start",
            f"FastAGI connect → caller count, {len(fast):,} sessions, "
            f"{sizes.concurrency} at once ({sizes.waiting_callers} callers waiting)",
            p(fast),
            "p99 < 20 ms",
            percentile(fast, 99) < 0.020,
        ),
        Figure(
            "4 AGI start",
            f"classic AGI process start → caller count, {len(classic):,} sessions",
            p(classic),
            "< 60 ms",
            percentile(classic, 99) < 0.060,
        ),
        Figure(
            "4 AGI start",
            f"floor: bare interpreter start → first command, {len(floor):,} runs",
            p(floor),
        ),
    ]
