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
import re
import statistics
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx

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


async def _command(argv: list[str], timeout: float = 120, stdin: str | None = None) -> Ran:
    t0 = time.perf_counter()
    proc = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.DEVNULL if stdin is None else asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=scratch.REPO,
    )
    try:
        async with asyncio.timeout(timeout):
            out, err = await proc.communicate(None if stdin is None else stdin.encode())
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
                "web": {"secret": "bench-" + "s" * 40, "public_url": "https://inbox.bench"},
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
            figures += await _inbox(config, tmp, made, sizes)
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


async def _inbox(config: Path, tmp: Path, made: Year, sizes: YearSizes) -> list[Figure]:
    """The inbox's first page (``GET /``, signed in) from ``callback-desk web`` on a socket:
    a therapist of the practice, and the front desk (every line)."""
    cli = [*scratch.command("callback-desk")]
    users = (
        ("therapist", made.extension, "one practice"),
        ("frontdesk", made.all_lines_extension, "every line"),
    )
    for role, ext, _ in users:
        add = ["user", "add", role, "--role", role, "--extension", ext, "--password-stdin"]
        ran = await _command([*cli, *add, "--config", str(config)], stdin=PASSWORD + "\n")
        if ran.error:
            return [Figure("5 a year", "inbox, first page", ran.error, "< 50 ms", False)]
    port = scratch.free_port()
    argv = [*cli, "web", "--config", str(config), "--host", "127.0.0.1", "--port", str(port)]
    figures = []
    async with scratch.server(argv, port, tmp / "web.log"):
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            for role, _ext, lines in users:
                cookie = await _sign_in(client, role)
                await client.get("/", headers={"cookie": cookie})  # first use of the pool
                times = []
                for _ in range(sizes.menu_sessions):
                    t0 = time.perf_counter()
                    page = await client.get("/", headers={"cookie": cookie})
                    times.append(time.perf_counter() - t0)
                    if page.status_code != 200:
                        raise RuntimeError(f"inbox: GET / answered {page.status_code}")
                p99 = percentile(times, 99)
                figures.append(
                    Figure(
                        "5 a year",
                        f"inbox first page, {role} ({lines}): GET / signed in, "
                        f"{sizes.menu_sessions} requests",
                        f"p50 {ms(percentile(times, 50))}, p99 {ms(p99)}",
                        "< 50 ms",
                        p99 < 0.050,
                    )
                )
    return figures


PASSWORD = "bench horse battery staple"


async def _sign_in(client: httpx.AsyncClient, username: str) -> str:
    """Sign in as a person does (the form and its CSRF token); the session cookie. Kept by
    hand: the cookie is Secure and this is plain HTTP on localhost."""
    page = await client.get("/sign-in")
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    if found is None:
        raise RuntimeError("inbox: no CSRF field on the sign-in page")
    cookies = "; ".join(c.split(";", 1)[0] for c in page.headers.get_list("set-cookie"))
    reply = await client.post(
        "/sign-in",
        data={"username": username, "password": PASSWORD, "csrf": found[1]},
        headers={"cookie": cookies} if cookies else {},
    )
    session = "; ".join(c.split(";", 1)[0] for c in reply.headers.get_list("set-cookie"))
    if reply.status_code != 303 or not session:
        raise RuntimeError(f"inbox: sign-in as {username} answered {reply.status_code}")
    return session
