"""A year of a hosted PBX: what people wait on, over 2,000,000 calls.

The data and the query/command figures are :mod:`bench.year`'s (``generate`` and ``measure``:
the ``*47`` first query (the count) for one extension and for all lines and the list read
while it is said, one practice's morning report and a report over 75 days of every line, each
command end to end as a process). Added here, each as its user meets it, against real servers
on sockets:

- ``*47`` on a desk phone: a FastAGI session against ``callback-desk agi serve`` from connect
  to the caller count (the menu's count query plus the protocol around it; the peer hangs up
  there, so the list being read meanwhile is cancelled, as for a desk that hangs up), for desk 100
  (hearing its DID 2000 and itself: the busiest line) and for a desk hearing every line;
- the inbox's first page (``GET /`` signed in) from ``callback-desk web``, for the therapist at
  desk 100 and for the front desk (every line), and the front desk's search by the last digits
  of a number (``POST /``).
"""

from __future__ import annotations

import asyncio
import re
import subprocess
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from bench import scratch, year
from bench.agi import session
from bench.table import Figure, ms, percentile

SECTION = "5 a year"
DESK = "100"  # DID 2000 rings it: the busiest line of the generated year
DESK_LINES = ["2000", DESK]
FRONT_DESK = "900"  # no desk of the generated year: it hears every line
PASSWORD = "bench horse battery staple"
SEARCH = "0007"  # last digits the front desk searches by (one generated number in 10,000)


@dataclass(frozen=True, slots=True)
class YearSizes:
    calls: int = 2_000_000
    runs: int = 5  # repetitions of each query and command (after a warm-up)
    menu_sessions: int = 20


async def _command(argv: list[str], stdin: str) -> str:
    """Run a command with ``stdin``; '' on success, else its last line of error."""
    proc = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
        cwd=scratch.REPO,
    )
    _, err = await proc.communicate(stdin.encode())
    if proc.returncode == 0:
        return ""
    lines = err.decode("utf-8", "replace").strip().splitlines()
    return (lines[-1] if lines else f"exit {proc.returncode}")[:120]


def _theirs(f: year.Figure) -> Figure:
    note = f" ({f.note})" if f.note else ""
    return Figure(
        SECTION,
        f"{f.what}{note}, {'' if 'command' in f.what else 'asyncpg, '}median / worst",
        f"{f.median_ms:,.1f} / {f.worst_ms:,.1f} ms",
        f"< {f.goal_ms:,.0f} ms",
        f.met,
    )


async def run(server: str, sizes: YearSizes) -> list[Figure]:
    figures: list[Figure] = []
    end = datetime.now(UTC).replace(microsecond=0)
    with tempfile.TemporaryDirectory(prefix="cbd-bench-year-") as name:
        tmp = Path(name)
        async with scratch.database(server, "year") as dsn:
            conn = await asyncpg.connect(dsn)
            try:
                shape = await year.generate(conn, sizes.calls, end)
            finally:
                await conn.close()
            figures.append(
                Figure(
                    SECTION,
                    f"generated {shape.calls:,} calls ({shape.missed:,} missed, "
                    f"{shape.attempts:,} callbacks, {shape.dispositions:,} verdicts; "
                    f"{len(year.PBX_NAMES)} PBX names, {year.DIDS} DIDs)",
                    f"{shape.seconds:.0f} s",
                )
            )
            try:
                figures += [_theirs(f) for f in await year.measure(dsn, end, repeat=sizes.runs)]
            except (subprocess.CalledProcessError, asyncpg.PostgresError) as exc:
                # A report that fails (a query out of time) is a figure, not a crash.
                figures.append(
                    Figure(SECTION, "bench.year.measure", f"failed: {exc}"[:160], "", False)
                )
            settings: dict[str, dict[str, Any]] = {
                "database": {"dsn": dsn},
                "pbx": {"name": year.PBX_NAMES[0], "timezone": "UTC"},
                "agi": {"extensions": {DESK: DESK_LINES, FRONT_DESK: ["*"]}},
                "web": {"secret": "bench-" + "s" * 40, "public_url": "https://inbox.bench"},
            }
            config = scratch.write_config(tmp / "year.toml", settings)
            figures += await _menus(config, tmp, sizes)
            figures += await _inbox(config, tmp, sizes)
    return figures


async def _menus(config: Path, tmp: Path, sizes: YearSizes) -> list[Figure]:
    figures = []
    async with scratch.agi_server(config, tmp / "year-agi.log") as port:
        await session(port, DESK)  # the pool's first connection: not what a desk waits for
        for label, ext in (
            (f"desk {DESK} (DID 2000)", DESK),
            ("a desk hearing every line", FRONT_DESK),
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
                    SECTION,
                    f"*47 for {label}: FastAGI connect → caller count, "
                    f"{sizes.menu_sessions} sessions one at a time",
                    result,
                    "< 20 ms",
                    met,
                )
            )
    return figures


async def _inbox(config: Path, tmp: Path, sizes: YearSizes) -> list[Figure]:
    """The inbox's first page (``GET /``, signed in) from ``callback-desk web`` on a socket."""
    cli = [*scratch.command("callback-desk")]
    users = (
        ("therapist", DESK, f"desk {DESK}"),
        ("frontdesk", FRONT_DESK, "every line"),
    )
    for role, ext, _ in users:
        add = ["user", "add", role, "--role", role, "--extension", ext, "--password-stdin"]
        error = await _command([*cli, *add, "--config", str(config)], PASSWORD + "\n")
        if error:
            return [Figure(SECTION, "inbox, first page", f"user add: {error}", "< 50 ms", False)]
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
                        SECTION,
                        f"inbox first page, {role} ({lines}): GET / signed in, "
                        f"{sizes.menu_sessions} requests",
                        f"p50 {ms(percentile(times, 50))}, p99 {ms(p99)}",
                        "< 50 ms",
                        p99 < 0.050,
                    )
                )
            figures.append(await _search(client, await _sign_in(client, "frontdesk"), sizes))
    return figures


async def _search(client: httpx.AsyncClient, cookie: str, sizes: YearSizes) -> Figure:
    """The front desk finds a caller by the last four digits (``POST /``: the digits never go
    in the address)."""
    page = await client.get("/", headers={"cookie": cookie})
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    if found is None:
        raise RuntimeError("inbox: no CSRF field on the inbox page")
    form = {"csrf": found[1], "digits": SEARCH}
    await client.post("/", data=form, headers={"cookie": cookie})
    times = []
    for _ in range(sizes.menu_sessions):
        t0 = time.perf_counter()
        reply = await client.post("/", data=form, headers={"cookie": cookie})
        times.append(time.perf_counter() - t0)
        if reply.status_code != 200:
            raise RuntimeError(f"inbox: POST / answered {reply.status_code}")
    p99 = percentile(times, 99)
    return Figure(
        SECTION,
        f"inbox search by the last 4 digits, frontdesk (every line): POST / signed in, "
        f"{sizes.menu_sessions} requests",
        f"p50 {ms(percentile(times, 50))}, p99 {ms(p99)}",
        "< 50 ms",
        p99 < 0.050,
    )


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
