"""A year of a hosted PBX: the commands and menus people wait on, over 2,000,000 calls.

The data comes from :func:`bench.year.generate` (generated inside PostgreSQL with
``generate_series``: two million calls in a minute or two). Every
figure goes through the real entry points, each as its user meets it:

- the morning report of one practice, ``callback-desk report --for <its DID>`` as a process
  (interpreter start, imports, connection, queries, rendering), p50 over a few runs;
- ``*47`` on a desk phone: a FastAGI session against ``callback-desk agi serve`` from connect
  to the caller count, for a desk that hears one line and for one that hears all lines — the
  count needs the menu's first query, and its cost is what separates the two from the empty
  database's figure in section 4;
- the inbox's first page, once the web inbox exists;
- a report over at least 10,000 waiting callers (``--since`` as far back as it takes).
"""

from __future__ import annotations

import asyncio
import json
import statistics
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg

from bench import scratch
from bench.agi import session
from bench.table import Figure, ms, percentile
from bench.year import DIDS, PBX_NAMES, extension_of, generate


@dataclass(frozen=True, slots=True)
class YearSizes:
    calls: int = 2_000_000
    runs: int = 5  # report command runs
    menu_sessions: int = 20
    waiting_target: int = 10_000


@dataclass(frozen=True, slots=True)
class Year:
    """What the benchmarks need to know about the generated year."""

    practice_did: str  # one practice's line
    extension: str  # that practice's desk, hearing its DID and itself
    all_lines_extension: str  # a front desk hearing every line
    pbx_names: tuple[str, ...]


async def year(dsn: str, calls: int, now: datetime) -> Year:
    """The year of :mod:`bench.year` (its docstring describes the data), and where to look."""
    conn = await asyncpg.connect(dsn)
    try:
        await generate(conn, calls, now)
        # The practice with the most missed calls: the heaviest morning report.
        did: str = await conn.fetchval(
            "SELECT did FROM calls WHERE outcome = 'missed' AND did <> '' GROUP BY did "
            "ORDER BY count(*) DESC, did LIMIT 1"
        )
    finally:
        await conn.close()
    return Year(
        practice_did=did,
        extension=extension_of(did),
        all_lines_extension="900",  # no desk of the generated year has it
        pbx_names=PBX_NAMES,
    )


@dataclass(frozen=True, slots=True)
class Ran:
    seconds: float
    out: str
    error: str  # '' when the command exited 0

    def verdict(self, limit: float) -> tuple[str, bool]:
        if self.error:
            return f"failed after {self.seconds:.1f} s: {self.error}", False
        return ms(self.seconds), self.seconds < limit


async def _command(argv: list[str], timeout: float = 120) -> Ran:
    t0 = time.perf_counter()
    proc = await asyncio.create_subprocess_exec(
        *argv,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=scratch.REPO,
    )
    try:
        async with asyncio.timeout(timeout):
            out, err = await proc.communicate()
    except TimeoutError:
        proc.kill()
        await proc.wait()
        return Ran(time.perf_counter() - t0, "", f"no answer in {timeout:g} s")
    elapsed = time.perf_counter() - t0
    error = ""
    if proc.returncode != 0:
        lines = err.decode("utf-8", "replace").strip().splitlines()
        error = (lines[-1] if lines else f"exit {proc.returncode}")[:120]
    return Ran(elapsed, out.decode("utf-8", "replace"), error)


async def _waiting_window(dsn: str, target: int, now: datetime) -> datetime:
    """The latest ``--since`` whose window holds about ``target`` callers nobody returned
    (counted on the table, not through the view under test)."""
    conn = await asyncpg.connect(dsn)
    try:
        for days in (7, 14, 30, 60, 90, 180, 365):
            since = now - timedelta(days=days)
            n = await conn.fetchval(
                """
                SELECT count(DISTINCT m.number_key) FROM calls m
                WHERE m.outcome = 'missed' AND m.started_at >= $1 AND m.number_key IS NOT NULL
                  AND NOT EXISTS (SELECT 1 FROM calls c WHERE c.number_key = m.number_key
                                  AND c.started_at > m.started_at
                                  AND c.outcome IN ('answered', 'voicemail'))
                """,
                since,
            )
            if n >= target:
                return since
        return now - timedelta(days=365)
    finally:
        await conn.close()


async def run(server: str, sizes: YearSizes) -> list[Figure]:
    figures: list[Figure] = []
    now = datetime.now(UTC)
    with tempfile.TemporaryDirectory(prefix="cbd-bench-year-") as name:
        tmp = Path(name)
        async with scratch.database(server, "year") as dsn:
            t0 = time.perf_counter()
            made = await year(dsn, sizes.calls, now)
            generated = time.perf_counter() - t0
            scratch_config: dict[str, dict[str, Any]] = {
                "database": {"dsn": dsn},
                "pbx": {"name": PBX_NAMES[0], "timezone": "UTC"},
                "agi": {
                    "extensions": {
                        made.extension: [made.practice_did, made.extension],
                        made.all_lines_extension: ["*"],
                    }
                },
            }
            config = scratch.write_config(tmp / "year.toml", scratch_config)
            cli = [*scratch.command("callback-desk"), "report", "--config", str(config)]
            runs = [await _command([*cli, "--for", made.practice_did]) for _ in range(sizes.runs)]
            failed = [r for r in runs if r.error]
            times = [r.seconds for r in runs]
            if failed:
                result, met = failed[0].verdict(0.3)
            else:
                result = f"p50 {ms(statistics.median(times))}, max {ms(max(times))}"
                met = statistics.median(times) < 0.3
            figures.append(
                Figure(
                    "5 a year",
                    f"morning report of one practice (--for {made.practice_did}), "
                    f"command end to end, {sizes.runs} runs",
                    result,
                    "< 300 ms",
                    met,
                )
            )
            figures += await _menus(config, tmp, made, sizes)
            figures.append(
                Figure("5 a year", "inbox, first page", "the web inbox is not built yet", "< 50 ms")
            )
            since = await _waiting_window(dsn, sizes.waiting_target, now)
            big = [*cli, "--since", since.isoformat(), "--format", "json", "--no-week"]
            ran = await _command(big)
            listed = "?"
            if not ran.error:
                missed = json.loads(ran.out)["missed"]
                listed = f"{sum(1 for c in missed if c.get('status') != 'returned'):,}"
            result, met = ran.verdict(1.0)
            figures.append(
                Figure(
                    "5 a year",
                    f"report over {listed} waiting callers "
                    f"({(now - since).days} days, JSON), command end to end",
                    result,
                    "< 1 s",
                    met,
                )
            )
    figures.insert(
        0,
        Figure(
            "5 a year",
            f"generated {sizes.calls:,} calls (4 PBX names, {DIDS} DIDs)",
            f"{generated:.0f} s",
        ),
    )
    return figures


async def _menus(config: Path, tmp: Path, made: Year, sizes: YearSizes) -> list[Figure]:
    figures = []
    async with scratch.agi_server(config, tmp / "year-agi.log") as port:
        await session(
            port, made.extension
        )  # the pool's first connection: not what a desk waits for
        for label, ext in (
            ("one extension", made.extension),
            ("all lines", made.all_lines_extension),
        ):
            times = [await session(port, ext) for _ in range(sizes.menu_sessions)]
            done = [t for t in times if t is not None]
            if len(done) < len(times):
                result = f"menu apologised in {len(times) - len(done)} of {len(times)} sessions"
                met = False
            else:
                result = f"p50 {ms(percentile(done, 50))}, p99 {ms(percentile(done, 99))}"
                met = percentile(done, 99) < 0.020
            figures.append(
                Figure(
                    "5 a year",
                    f"*47 for {label}: FastAGI connect → caller count, "
                    f"{sizes.menu_sessions} sessions one at a time",
                    result,
                    "< 20 ms",
                    met,
                )
            )
    return figures
