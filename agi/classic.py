"""Classic AGI over stdin/stdout: ``python -m agi [--config PATH] [--syslog] [-v]``.

stdout *is* the AGI protocol: before anything runs, ``sys.stdout`` is pointed at stderr so that
no stray write can corrupt it, and pyst2 gets the original stream. Logging goes to stderr (or
syslog with ``--syslog``). Asterisk's environment is not the service's, hence ``--config``.

Start-up is the desk's wait: Asterisk starts this process for every ``*47``, and the desk hears
nothing until it has said how many callers wait. So it imports only what that first prompt
needs: pyst2 (:class:`agi.channel.SafeAGI`), the settings, the handler and a small synchronous
PostgreSQL client (:mod:`callback_desk.core.pgwire`), and neither asyncio nor asyncpg (~150 ms
together, more than the whole budget; ``bench/agi.py`` measures it). The handler is the same
coroutine the FastAGI server awaits; here :func:`drive` steps it, since nothing it awaits
suspends. A DSN only asyncpg understands (certificate checks, a password file, ``PG*``
variables, ...) runs the same session under asyncio and asyncpg instead: slower to start, the
same behaviour.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Coroutine, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from asterisk.agi import AGIError

from agi.channel import PystChannel, SafeAGI
from agi.config import AgiSettings, load
from agi.exceptions import ChannelGone
from agi.handlers import Desk
from agi.queries import Callbacks
from agi.session import BUGS, UnavailableCallbacks, run_session
from callback_desk.core import logs, pgwire
from callback_desk.core.args import Parser
from callback_desk.core.config import Settings
from callback_desk.core.dberrors import mapped
from callback_desk.core.exceptions import ConfigError

T = TypeVar("T")
logger = logging.getLogger(__name__)

# pyst2's own errors (a result it cannot read as a key, EXEC of a missing application) are
# bugs too: the session ends FAILED.
CLASSIC_BUGS = (*BUGS, AGIError)


def drive(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine that never suspends to its end, without an event loop."""
    try:
        coro.send(None)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    coro.close()
    raise RuntimeError("the classic AGI session tried to suspend")


def session(
    stdin: Any,
    stdout: Any,
    hangup: threading.Event,
    desk: Desk,
    settings: Settings,
    cfg: AgiSettings,
) -> Coroutine[Any, Any, str] | None:
    """The session as a coroutine over pyst2; None when Asterisk went away before the AGI
    environment was read."""
    try:
        agi = SafeAGI(stdin, stdout, hangup)
    except ChannelGone:
        logger.warning("Asterisk went away before the AGI environment was read")
        return None
    tz = settings.pbx.timezone
    return run_session(PystChannel(agi), desk, cfg, tz, lambda: datetime.now(tz), bugs=CLASSIC_BUGS)


def run_classic(settings: Settings) -> int:
    """One AGI session on this process's stdin/stdout. Always 0: the status variable carries
    the outcome, and the dialplan branches on it and on ${AGISTATUS}."""
    with _classic_io(settings) as (cfg, out, hangup):
        if not _fast_session(settings, cfg, out, hangup):
            import asyncio  # lazy: only a DSN the small client leaves to asyncpg needs it

            asyncio.run(_asyncpg_session(settings, cfg, out, hangup))
    return 0


async def run_classic_async(settings: Settings) -> int:
    """:func:`run_classic` for a caller already on an event loop (``callback-desk agi``)."""
    with _classic_io(settings) as (cfg, out, hangup):
        if not _fast_session(settings, cfg, out, hangup):
            await _asyncpg_session(settings, cfg, out, hangup)
    return 0


@contextmanager
def _classic_io(settings: Settings) -> Iterator[tuple[AgiSettings, Any, threading.Event]]:
    protocol_out = sys.stdout
    sys.stdout = sys.stderr
    cfg = load(settings)
    hangup = threading.Event()
    # Asterisk sends SIGHUP on hang-up unless AGISIGHUP=no; either way the flag only stops
    # commands a dead channel cannot run.
    previous = signal.signal(signal.SIGHUP, lambda _signum, _frame: hangup.set())
    try:
        yield cfg, protocol_out, hangup
    finally:
        signal.signal(signal.SIGHUP, previous)


def _fast_session(settings: Settings, cfg: AgiSettings, out: Any, hangup: threading.Event) -> bool:
    """The session over :mod:`callback_desk.core.pgwire`; False, before anything is read or
    sent, when the DSN or the server asks for what only asyncpg does."""
    conn: pgwire.Connection | None = None
    try:
        conn = pgwire.Connection.open(
            pgwire.parse_dsn(settings.database.dsn.reveal()), cfg.db_timeout
        )
        desk: Desk = Callbacks(pgwire.WirePool(conn))
    except pgwire.Unsupported:
        return False
    except Exception as exc:
        error = mapped("connecting to PostgreSQL", exc)
        if error is None:
            raise
        logger.error("Database unavailable: %s", error)
        desk = UnavailableCallbacks(error)
    try:
        work = session(sys.stdin, out, hangup, desk, settings, cfg)
        if work is not None:
            drive(work)
    finally:
        if conn is not None:
            conn.close()
    return True


async def _asyncpg_session(
    settings: Settings, cfg: AgiSettings, out: Any, hangup: threading.Event
) -> None:
    """The same session with asyncpg, for a DSN :mod:`callback_desk.core.pgwire` leaves to it."""
    from agi.runtime import TimedDesk, open_callbacks

    async with open_callbacks(settings, cfg, max_size=1) as callbacks:
        work = session(sys.stdin, out, hangup, TimedDesk(callbacks, cfg.db_timeout), settings, cfg)
        if work is not None:
            await work


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="python -m agi", description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, metavar="PATH", help="TOML config file")
    parser.add_argument("--syslog", action="store_true", help="log to syslog instead of stderr")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging")
    # Asterisk appends the AGI() arguments (menu,100 ...); they are read from the AGI
    # environment (agi_arg_N), so they are accepted here and not used.
    parser.add_argument("words", nargs="*", help=argparse.SUPPRESS)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logs.configure(args.verbose, syslog_tag="callback-desk-agi" if args.syslog else None)
    try:
        settings = Settings.load(args.config)
        return run_classic(settings)
    except ConfigError as exc:
        sys.stderr.write(f"callback-desk agi: {exc}\n")
        return 2
