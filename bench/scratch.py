"""Scratch PostgreSQL databases and child processes for the benchmarks.

Every benchmark that stores or reads runs against a database it creates, migrates with the
project's own migrations, and drops (``WITH (FORCE)``) when done, on the server named by
``CALLBACK_DESK_BENCH_DSN`` or ``CALLBACK_DESK_TEST_DSN`` (default: the local postgres).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import sys
import uuid
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from callback_desk.core import migrate
from fakes.agi_peer import SECRET
from fakes.agi_runner import toml_text

DEFAULT_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"
REPO = Path(__file__).resolve().parents[1]


def server_dsn() -> str:
    return (
        os.environ.get("CALLBACK_DESK_BENCH_DSN")
        or os.environ.get("CALLBACK_DESK_TEST_DSN")
        or DEFAULT_SERVER
    )


def with_database(dsn: str, database: str) -> str:
    return urlunsplit(urlsplit(dsn)._replace(path="/" + database))


async def checkpoint(conn: asyncpg.Connection) -> None:
    """Write out what the work before left in PostgreSQL's buffers. A section that wrote much
    (2,000,000 calls for the memory run, a year for the reports) leaves up to a gigabyte of
    WAL, and the checkpoint that follows would run during whatever is measured next, in its
    worst case: a server that did that work over months would have written it out long ago.
    Needs a superuser (or pg_checkpoint); without one, the section runs as it finds the server."""
    with contextlib.suppress(asyncpg.InsufficientPrivilegeError):
        await conn.execute("CHECKPOINT")


@contextlib.asynccontextmanager
async def database(server: str, label: str) -> AsyncIterator[str]:
    """A fresh, migrated database; dropped afterwards whatever happens."""
    name = f"cbd_bench_{label}_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(server)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    dsn = with_database(server, name)
    try:
        conn = await asyncpg.connect(dsn)
        try:
            await migrate.migrate(conn)
            await checkpoint(conn)
        finally:
            await conn.close()
        yield dsn
    finally:
        admin = await asyncpg.connect(server)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


def write_config(path: Path, sections: dict[str, dict[str, Any]]) -> Path:
    # Private, as an install keeps a config that holds secrets: the inbox refuses an inline
    # [web] secret in a file other users can read.
    path.touch(mode=0o600)
    path.chmod(0o600)
    path.write_text(toml_text(sections), encoding="utf-8")
    return path


def command(name: str) -> list[str]:
    """The installed console script (as a PBX admin runs it), else ``python -m``."""
    script = Path(sys.executable).parent / name
    if script.exists():
        return [str(script)]
    found = shutil.which(name)
    if found:
        return [found]
    return [sys.executable, "-m", "callback_desk.cli"]


def listener_argv(config: Path, profile: Path | None = None) -> list[str]:
    """``callback-desk listen``; under cProfile (written when it stops) with ``profile``."""
    args = ["listen", "--config", str(config)]
    if profile is None:
        return [*command("callback-desk"), *args]
    profiler = [sys.executable, "-m", "cProfile", "-o", str(profile)]
    return [*profiler, "-m", "callback_desk.cli", *args]


def summarise_profile(profile: Path, out: Path, top: int = 30) -> None:
    """The functions that took the most time, by own time and by cumulative time."""
    import io
    import pstats

    text = io.StringIO()
    stats = pstats.Stats(str(profile), stream=text)
    stats.sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats(top)
    out.write_text(text.getvalue(), encoding="utf-8")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def cpu_seconds(pid: int) -> float:
    """User + system CPU a process has used so far, from /proc (clock ticks, 10 ms each)."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        fields = stat.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mib(pid: int) -> float:
    """Resident memory of a process, from /proc (what ``top`` shows as RES)."""
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


async def spawn(
    argv: Sequence[str], log: Path | None = None, **kwargs: Any
) -> asyncio.subprocess.Process:
    stderr: Any = asyncio.subprocess.DEVNULL
    if log is not None:
        stderr = log.open("ab")
    try:
        return await asyncio.create_subprocess_exec(*argv, cwd=REPO, stderr=stderr, **kwargs)
    finally:
        if log is not None:
            stderr.close()


async def stop(proc: asyncio.subprocess.Process, timeout: float = 15) -> int:
    """SIGTERM (the listener writes what it decided), then SIGKILL if it does not exit."""
    if proc.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        try:
            async with asyncio.timeout(timeout):
                await proc.wait()
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
    assert proc.returncode is not None
    return proc.returncode


@contextlib.asynccontextmanager
async def agi_server(config: Path, logfile: Path) -> AsyncIterator[int]:
    """``callback-desk agi serve`` as its own process; yields its port once it accepts."""
    async with agi_server_process(config, logfile) as (port, _pid):
        yield port


@contextlib.asynccontextmanager
async def agi_server_process(config: Path, logfile: Path) -> AsyncIterator[tuple[int, int]]:
    """``callback-desk agi serve`` as its own process; yields its port and pid once it accepts.

    The server accepts only peers that present the FastAGI secret: the harness's peers present
    :data:`fakes.agi_peer.SECRET`, written here to a private file the server reads.
    """
    port = free_port()
    secret = logfile.with_suffix(".secret")
    secret.write_text(SECRET + "\n", encoding="ascii")
    secret.chmod(0o600)
    argv = [*command("callback-desk"), "agi", "serve", "--config", str(config), "--port", str(port)]
    env = {**os.environ, "CALLBACK_DESK_AGI_SECRET_FILE": str(secret)}
    async with server(argv, port, logfile, env=env) as proc:
        yield port, proc.pid


@contextlib.asynccontextmanager
async def server(
    argv: list[str], port: int, logfile: Path, **kwargs: Any
) -> AsyncIterator[asyncio.subprocess.Process]:
    """A server process, from the moment it accepts connections on ``port`` until stopped."""
    proc = await spawn(argv, log=logfile, **kwargs)
    try:
        async with asyncio.timeout(30):
            while True:
                try:
                    _, probe = await asyncio.open_connection("127.0.0.1", port)
                except OSError:
                    if proc.returncode is not None:
                        raise RuntimeError(f"{argv[1:3]} exited:\n{tail(logfile)}") from None
                    await asyncio.sleep(0.05)
                    continue
                probe.close()  # a connection that says nothing: servers shrug it off
                break
        yield proc
    finally:
        await stop(proc)


def tail(path: Path, lines: int = 15) -> str:
    if not path.exists():
        return ""
    return "\n".join(path.read_text("utf-8", "replace").splitlines()[-lines:])
