"""Classic AGI over stdin/stdout: ``python -m agi [--config PATH] [--syslog] [-v]``.

stdout *is* the AGI protocol: before anything runs, ``sys.stdout`` is pointed at stderr so that
no stray write can corrupt it, and pyst2 gets the original stream. Logging goes to stderr (or
syslog with ``--syslog``). Asterisk's environment is not the service's, hence ``--config``.

Start-up is the desk's wait: Asterisk starts this process for every ``*47``, and the desk hears
nothing until it has said how many callers wait. So it loads only what that first prompt needs,
in an order that lets PostgreSQL work while Python imports:

1. the settings (to know the DSN; from their parsed snapshot, :mod:`callback_desk.core.snapshot`),
   then the connection starts in a thread: PostgreSQL forks its backend and logs us in while
2. the session's modules load: pyst2 (:class:`agi.channel.SafeAGI`), the handler, the queries;
3. then the session runs, over a small synchronous client (:mod:`callback_desk.core.pgwire`).

Neither asyncio nor asyncpg is loaded (they cost more than the whole budget; ``bench/agi.py``
measures it; tests/db/test_agi_menu.py pins what is loaded by the count), nor
``dataclasses`` (the settings are :mod:`callback_desk.core.record` records, and
:mod:`agi.channel` keeps pyst2's pprint from loading it), nor tomllib, nor typing
(:mod:`callback_desk.core.typeshim`). The handler is the same coroutine the
FastAGI server awaits; here :func:`drive` steps it, since nothing it awaits suspends. A DSN or a
server asking for what only asyncpg does (certificate checks, a password file, ``PG*``
variables, ...) runs the same session under asyncio and asyncpg instead: slower to start, the
same behaviour.
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Coroutine, Iterator, Sequence
from contextlib import contextmanager
from functools import partial
from pathlib import Path

from agi.config import AgiSettings, load
from callback_desk.core import lazylog, pgwire
from callback_desk.core.config import Settings
from callback_desk.core.exceptions import ConfigError
from callback_desk.core.overlap import Overlapped
from callback_desk.core.pgwire import drive
from callback_desk.core.typeshim import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from typing import Any, NoReturn

    from agi.handlers import Desk

logger = lazylog.get(__name__)  # not logging: see callback_desk.core.lazylog


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
    from datetime import datetime

    from agi.channel import PYST_BUGS, PystChannel, SafeAGI
    from agi.exceptions import ChannelGone
    from agi.session import run_session

    try:
        agi = SafeAGI(stdin, stdout, hangup)
    except ChannelGone:
        logger.warning("Asterisk went away before the AGI environment was read")
        return None
    tz = settings.pbx.timezone
    return run_session(PystChannel(agi), desk, cfg, tz, lambda: datetime.now(tz), bugs=PYST_BUGS)


def run_classic(settings: Settings) -> int:
    """One AGI session on this process's stdin/stdout. Always 0: the status variable carries
    the outcome, and the dialplan branches on it and on ${AGISTATUS}."""
    with _classic_io(settings) as (cfg, out, hangup):
        if not _fast_session(settings, cfg, out, hangup):
            import asyncio  # lazy: only a DSN the small client leaves to asyncpg needs it

            lazylog.ready()  # agi.runtime and the store log through logging itself
            asyncio.run(_asyncpg_session(settings, cfg, out, hangup))
    return 0


async def run_classic_async(settings: Settings) -> int:
    """:func:`run_classic` for a caller already on an event loop (``callback-desk agi``)."""
    with _classic_io(settings) as (cfg, out, hangup):
        if not _fast_session(settings, cfg, out, hangup):
            lazylog.ready()
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
    try:
        dsn = pgwire.parse_dsn(settings.database.dsn.reveal())
    except pgwire.Unsupported:
        return False
    # The login mostly waits for PostgreSQL (its fork, the round trips): in a thread, it
    # overlaps the imports of the session's modules.
    connecting = Overlapped(
        partial(pgwire.Connection.open, dsn, cfg.db_timeout), name="pg-connect", daemon=True
    )
    # Meanwhile: what the session needs (see the module docstring), pyst2 included.
    import agi.channel  # noqa: F401 - for session(), which imports it by name
    from agi.queries import Callbacks
    from agi.session import UnavailableCallbacks
    from callback_desk.core.dberrors import mapped

    conn: pgwire.Connection | None = None
    desk: Desk
    try:
        conn = connecting.result()
        desk = Callbacks(pgwire.WirePool(conn))
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


USAGE = "usage: python -m agi [--config PATH] [--syslog] [-v] [menu EXT | dial ID EXT]"
HELP = f"""{USAGE}

One classic AGI session on stdin/stdout: the *47 menu, or a callback's dial.

options:
  -h, --help       show this help and exit
  --config PATH    TOML config file
  --syslog         log to syslog instead of stderr
  -v, --verbose    more logging (twice: more still)

Asterisk appends the AGI() arguments (menu,100 ...); they are read from the AGI environment
(agi_arg_N), so they are accepted here and not used.
"""


class Args(NamedTuple):  # not a dataclass: see agi.queries
    """The classic entry's options (parse_args)."""

    config: Path | None = None
    syslog: bool = False
    verbose: int = 0


def parse_args(argv: Sequence[str]) -> Args:
    """The classic entry's few options, by hand: argparse (with the shutil and locale it loads
    to format help) was ~9 ms of a start the desk waits through. A mistake is one line on
    stderr and exit 2, as everywhere else (callback_desk.core.args)."""
    config: Path | None = None
    syslog, verbose = False, 0
    words = list(argv)
    while words and words[0].startswith("-") and words[0] != "-":
        word = words.pop(0)
        if word in ("-h", "--help"):
            sys.stdout.write(HELP)
            raise SystemExit(0)
        if word == "--syslog":
            syslog = True
        elif word == "--verbose" or (len(word) > 1 and word[1:] == "v" * (len(word) - 1)):
            verbose += 1 if word == "--verbose" else len(word) - 1
        elif word == "--config" or word.startswith("--config="):
            value = word.partition("=")[2] if "=" in word else (words.pop(0) if words else "")
            if not value:
                _usage_error("argument --config: expected one argument")
            config = Path(value)
        elif word == "--":
            break
        else:
            _usage_error(f"unrecognized arguments: {word[:40]}")
    return Args(config, syslog, verbose)


def _usage_error(message: str) -> NoReturn:
    sys.stderr.write(f"python -m agi: {message} (see --help)\n")
    raise SystemExit(2)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    # At the first line logged, not now: see callback_desk.core.lazylog.
    lazylog.configure_later(args.verbose, syslog_tag="callback-desk-agi" if args.syslog else None)
    try:
        # A process per *47: the parsed settings are kept beside the file when this process
        # owns it (callback_desk.core.snapshot), so the next one need not parse TOML.
        settings = Settings.load(args.config, keep_snapshot=True)
        return run_classic(settings)
    except ConfigError as exc:
        sys.stderr.write(f"callback-desk agi: {exc}\n")
        return 2
