"""Classic AGI over stdin/stdout: ``python -m agi [--config PATH] [--syslog] [-v]``.

stdout *is* the AGI protocol: before anything runs, ``sys.stdout`` is pointed at stderr so that
no stray write can corrupt it, and pyst2 gets the original stream. Logging goes to stderr (or
syslog with ``--syslog``). Asterisk's environment is not the service's, hence ``--config``.

Start-up is the desk's wait: Asterisk starts this process for every ``*47``, and the desk hears
nothing until it has said how many callers wait. So it loads only what that first prompt needs,
in an order that lets PostgreSQL work while Python imports:

1. the login starts first, in a thread, to the database the settings file's snapshot names
   (:mod:`agi.login`): PostgreSQL forks its backend and logs us in while
2. the settings load and are checked (from their parsed snapshot,
   :mod:`callback_desk.core.snapshot`); the login is used only if they name the same database;
3. the AGI environment is read (:func:`agi.protocol.read_env`), then, while the login may
   still be under way, the session's modules load: pyst2 (:class:`agi.channel.SafeAGI`, handed
   the environment read), the handler, the queries;
4. then the session runs, over a small synchronous client (:mod:`callback_desk.core.pgwire`).

Neither asyncio nor asyncpg is loaded (they cost more than the whole budget; ``bench/agi.py``
measures it; tests/db/test_agi_menu.py pins what is loaded by the count), nor
``dataclasses`` (the settings are :mod:`callback_desk.core.record` records, and
:mod:`agi.channel` keeps pyst2's pprint from loading it), nor tomllib, nor typing
(:mod:`callback_desk.core.typeshim`), nor the public modules that build enums at import where a
private one does the same work (``_socket``, ``_signal``, ``_thread``), nor what the standard
library imports for what the count never does (:data:`UNUSED_BEFORE_THE_COUNT`,
:mod:`callback_desk.core.standin`). The handler is the same coroutine the FastAGI server
awaits; here :func:`callback_desk.core.pgwire.drive` steps it, since nothing it awaits
suspends. A DSN or a server asking for what only asyncpg does (certificate checks, a password
file, ``PG*`` variables, ...) runs the same session under asyncio and asyncpg instead: slower to
start, the same behaviour.
"""

from __future__ import annotations

import sys
from collections.abc import Coroutine, Iterator, Sequence
from contextlib import contextmanager
from functools import partial

from callback_desk.core import lazylog
from callback_desk.core.exceptions import ConfigError
from callback_desk.core.standin import datetime_from_c, standing_in
from callback_desk.core.typeshim import TYPE_CHECKING, NamedTuple

# _signal, not signal: the public module wraps handlers in enums (it imports enum), and this
# entry sets one handler before its first prompt (see the module docstring). Same functions.
if TYPE_CHECKING:
    import signal as _signal
else:
    import _signal

if TYPE_CHECKING:
    from datetime import datetime
    from typing import Any, NoReturn
    from zoneinfo import ZoneInfo

    from agi.config import AgiSettings
    from agi.handlers import Desk
    from agi.login import EarlyLogin
    from agi.protocol import HangupFlag
    from callback_desk.core import pgwire
    from callback_desk.core.config import Settings

logger = lazylog.get(__name__)  # not logging: see callback_desk.core.lazylog

# Modules the standard library imports for what the session never does before the caller count,
# imported with stand-ins (callback_desk.core.standin): urllib.parse's ipaddress is for "[::1]"
# hosts, pathlib's ntpath and fnmatch for Windows paths and glob patterns; ~4 ms of the wait.
UNUSED_BEFORE_THE_COUNT = ("ipaddress", "ntpath", "fnmatch")


def session(
    stdin: Any,
    stdout: Any,
    hangup: HangupFlag,
    desk: Desk,
    settings: Settings,
    cfg: AgiSettings,
    env: dict[str, str],
) -> Coroutine[Any, Any, str]:
    """The session as a coroutine over pyst2, on the AGI environment read already."""
    from agi.channel import PYST_BUGS, PystChannel, SafeAGI
    from agi.session import run_session

    agi = SafeAGI(stdin, stdout, hangup, env=env)
    tz = settings.pbx.timezone
    return run_session(PystChannel(agi), desk, cfg, tz, partial(_now, tz), bugs=PYST_BUGS)


def _now(tz: ZoneInfo) -> datetime:
    from datetime import datetime

    return datetime.now(tz)


def run_classic(settings: Settings, early: EarlyLogin | None = None) -> int:
    """One AGI session on this process's stdin/stdout. Always 0: the status variable carries
    the outcome, and the dialplan branches on it and on ${AGISTATUS}. ``early``: a login
    started before the settings were checked (:mod:`agi.login`)."""
    with _classic_io(settings) as (cfg, out, hangup, env):
        if env is not None and not _fast_session(settings, cfg, out, hangup, env, early):
            import asyncio  # lazy: only a DSN the small client leaves to asyncpg needs it

            lazylog.ready()  # agi.runtime and the store log through logging itself
            asyncio.run(_asyncpg_session(settings, cfg, out, hangup, env))
    return 0


async def run_classic_async(settings: Settings) -> int:
    """:func:`run_classic` for a caller already on an event loop (``callback-desk agi``)."""
    with _classic_io(settings) as (cfg, out, hangup, env):
        if env is not None and not _fast_session(settings, cfg, out, hangup, env):
            lazylog.ready()
            await _asyncpg_session(settings, cfg, out, hangup, env)
    return 0


@contextmanager
def _classic_io(
    settings: Settings,
) -> Iterator[tuple[AgiSettings, Any, HangupFlag, dict[str, str] | None]]:
    """The [agi] settings, the protocol's stream, the hang-up flag and the AGI environment
    (None when Asterisk went away before it ended)."""
    from agi import protocol
    from agi.config import load
    from agi.exceptions import ChannelGone

    protocol_out = sys.stdout
    sys.stdout = sys.stderr
    cfg = load(settings)
    hangup = protocol.HangupFlag()
    # Asterisk sends SIGHUP on hang-up unless AGISIGHUP=no; either way the flag only stops
    # commands a dead channel cannot run.
    previous = _signal.signal(_signal.SIGHUP, lambda _signum, _frame: hangup.set())
    try:
        # Before pyst2 is loaded (agi.channel.SafeAGI is handed it): the same rules, protocol's.
        env: dict[str, str] | None = protocol.read_env(sys.stdin.readline, hangup.set)
    except ChannelGone:
        logger.warning("Asterisk went away before the AGI environment was read")
        env = None
    try:
        yield cfg, protocol_out, hangup, env
    finally:
        _signal.signal(_signal.SIGHUP, previous)


def _fast_session(
    settings: Settings,
    cfg: AgiSettings,
    out: Any,
    hangup: HangupFlag,
    env: dict[str, str],
    early: EarlyLogin | None = None,
) -> bool:
    """The session over :mod:`callback_desk.core.pgwire`; False, before anything is sent,
    when the DSN or the server asks for what only asyncpg does."""
    from agi.login import logging_in
    from callback_desk.core import pgwire

    dsn_text = settings.database.dsn.reveal()
    connecting = None if early is None else early.take(dsn_text, cfg.db_timeout)
    if connecting is None:
        try:
            dsn = pgwire.parse_dsn(dsn_text)
        except pgwire.Unsupported:
            return False
        connecting = logging_in(dsn, cfg.db_timeout)  # overlaps the imports below
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
        pgwire.drive(session(sys.stdin, out, hangup, desk, settings, cfg, env))
    finally:
        if conn is not None:
            conn.close()
    return True


async def _asyncpg_session(
    settings: Settings, cfg: AgiSettings, out: Any, hangup: HangupFlag, env: dict[str, str]
) -> None:
    """The same session with asyncpg, for a DSN :mod:`callback_desk.core.pgwire` leaves to it."""
    from agi.runtime import TimedDesk, open_callbacks

    async with open_callbacks(settings, cfg, max_size=1) as callbacks:
        desk = TimedDesk(callbacks, cfg.db_timeout)
        await session(sys.stdin, out, hangup, desk, settings, cfg, env)


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

    config: str | None = None  # a str until used: pathlib comes with the settings (agi.login)
    syslog: bool = False
    verbose: int = 0


def parse_args(argv: Sequence[str]) -> Args:
    """The classic entry's few options, by hand: argparse (with the shutil and locale it loads
    to format help) was ~9 ms of a start the desk waits through. A mistake is one line on
    stderr and exit 2, as everywhere else (callback_desk.core.args)."""
    config: str | None = None
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
            config = value
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
    datetime_from_c()  # before anything imports datetime (callback_desk.core.standin)
    # PostgreSQL logs us in while the settings load (agi.login): so they are imported after.
    with standing_in(*UNUSED_BEFORE_THE_COUNT):
        from agi import login
    early = login.start(args.config)
    try:
        with standing_in(*UNUSED_BEFORE_THE_COUNT):
            from pathlib import Path

            from callback_desk.core.config import Settings

        # A process per *47: the parsed settings are kept beside the file when this process
        # owns it (callback_desk.core.snapshot), so the next one need not parse TOML.
        settings = Settings.load(
            None if args.config is None else Path(args.config), keep_snapshot=True
        )
        return run_classic(settings, early)
    except ConfigError as exc:
        sys.stderr.write(f"callback-desk agi: {exc}\n")
        return 2
    finally:
        if early is not None:
            early.drop()
