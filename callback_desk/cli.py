"""``callback-desk``: one command, with subcommands for every process and report.

Exit codes: 0 success, 1 runtime failure (database or PBX unreachable...), 2 a user mistake
(bad flag, bad or missing setting). Tracebacks only with ``-v``.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Callable, Coroutine, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from callback_desk.core import logs
from callback_desk.core.config import DEFAULT_CONFIG_PATH, Settings
from callback_desk.core.exceptions import CallbackDeskError, ConfigError, StoreUnavailable
from callback_desk.core.store import Store

logger = logging.getLogger(__name__)

Handler = Callable[[Settings, argparse.Namespace], Coroutine[Any, Any, int]]


def _common() -> argparse.ArgumentParser:
    # SUPPRESS lets --config/-v appear before or after the subcommand without the subparser's
    # default overwriting a value given to the main parser.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--config",
        type=Path,
        default=argparse.SUPPRESS,
        metavar="PATH",
        help=f"TOML config file (default {DEFAULT_CONFIG_PATH}; env: CALLBACK_DESK_CONFIG)",
    )
    common.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=argparse.SUPPRESS,
        help="more logging; -v also shows tracebacks",
    )
    return common


def parse_when(value: str) -> datetime:
    """ISO 8601; a value without an offset is read later in the practice's time zone."""
    try:
        return datetime.fromisoformat(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(
            f"{value!r} is not an ISO 8601 date or time (e.g. 2026-11-27T08:00)"
        ) from exc


def build_parser() -> argparse.ArgumentParser:
    common = _common()
    parser = argparse.ArgumentParser(
        prog="callback-desk",
        parents=[common],
        description="Call back every caller the practice missed.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("migrate", parents=[common], help="create or upgrade the database schema")
    p.set_defaults(handler=cmd_migrate)

    p = sub.add_parser("listen", parents=[common], help="watch the PBX and record missed calls")
    p.set_defaults(handler=cmd_listen)

    p = sub.add_parser(
        "report",
        parents=[common],
        help="callers awaiting a callback (terminal, CSV, JSON, HTML or email)",
        description="Callers awaiting a callback, most urgent first. Settings: [report], [smtp].",
    )
    p.add_argument(
        "--format",
        choices=["text", "csv", "json", "html"],
        default="text",
        help="output on stdout (default text; ignored with --email)",
    )
    p.add_argument(
        "--since",
        type=parse_when,
        help="ISO 8601; without an offset, practice time "
        "(default: closing time of the previous business day)",
    )
    p.add_argument("--until", type=parse_when, help="ISO 8601 (default: now)")
    p.add_argument(
        "--all",
        dest="include_returned",
        action="store_true",
        help="also list callers already returned, and how",
    )
    p.add_argument(
        "--for",
        dest="covers",
        action="append",
        default=[],
        metavar="EXT|DID",
        help="only calls to this extension or DID (repeatable)",
    )
    p.add_argument(
        "--no-week",
        dest="week",
        action="store_false",
        help="leave out the week's statistics and heat map",
    )
    p.add_argument(
        "--email",
        action="store_true",
        help="mail the report to [report] email_to and [report.recipients] instead",
    )
    p.add_argument(
        "--to",
        action="append",
        default=[],
        metavar="ADDRESS",
        help="with --email: mail only this address (repeatable; combines with --for)",
    )
    p.add_argument(
        "--empty-email",
        dest="email_when_empty",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="mail even when nobody is waiting "
        "(default: [report] email_when_empty, env: CALLBACK_DESK_REPORT_EMAIL_WHEN_EMPTY)",
    )
    p.set_defaults(handler=cmd_report)

    p = sub.add_parser("purge", parents=[common], help="delete calls older than the retention")
    p.add_argument("--days", type=int, help="override [retention] days")
    p.set_defaults(handler=cmd_purge)

    p = sub.add_parser(
        "agi",
        parents=[common],
        help="desk-phone menu: one classic AGI session on stdin/stdout, or 'agi serve' (FastAGI)",
    )
    # Asterisk appends the AGI() arguments (menu,100 ...) to a classic script's command line;
    # they are read from the AGI environment, so anything but 'serve' is accepted and ignored.
    p.add_argument(
        "words",
        nargs="*",
        metavar="serve",
        help="'serve': run the FastAGI server (default 127.0.0.1:4573, see [agi] listen_*)",
    )
    p.add_argument("--host", help="FastAGI listen address (overrides [agi] listen_host)")
    p.add_argument("--port", type=int, help="FastAGI listen port (overrides [agi] listen_port)")
    p.add_argument("--syslog", action="store_true", help="log to syslog instead of stderr")
    p.set_defaults(handler=cmd_agi)

    p = sub.add_parser(
        "call", parents=[common], help="click-to-call: ring a desk phone, then call a caller back"
    )
    p.add_argument("call_id", type=int, metavar="ID", help="the missed call's id (see 'report')")
    p.add_argument(
        "--from",
        dest="extension",
        required=True,
        metavar="EXT",
        help="the desk phone's extension; it rings first",
    )
    p.set_defaults(handler=cmd_call)
    return parser


async def cmd_migrate(settings: Settings, _args: argparse.Namespace) -> int:
    store = await Store.open(settings.database, max_size=1)
    try:
        applied = await store.migrate()
    finally:
        await store.close()
    if applied:
        for migration in applied:
            sys.stdout.write(f"applied {migration.name}\n")
    else:
        sys.stdout.write("schema is up to date\n")
    return 0


async def cmd_listen(settings: Settings, _args: argparse.Namespace) -> int:
    from ami_listener.listener import Listener  # the composition root may see every package
    from ami_listener.spool import Spool

    settings.ami.require_secret()
    # The spool first: decided calls must have somewhere safe to go before we listen.
    spool = await Spool.open(settings.listener.state_dir, settings.listener.spool_max_mb << 20)
    try:
        store = await Store.open(settings.database)
        try:
            try:
                await store.check_schema()
            except StoreUnavailable as exc:
                # Start anyway: decided calls wait in the spool until the database is back.
                logger.warning("Starting without the database: %s", exc)
            listener = Listener(settings, store, spool)
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, listener.stop)
            await listener.run()
        finally:
            await store.close()
    finally:
        await spool.close()
    return 0


async def cmd_report(settings: Settings, args: argparse.Namespace) -> int:
    from callback_desk.report.command import ReportOptions, run
    from callback_desk.report.settings import check_cover

    options = ReportOptions(
        since=args.since,
        until=args.until,
        include_returned=args.include_returned,
        covers=tuple(check_cover(c, "--for") for c in args.covers),
        format=args.format,
        week=args.week,
        email=args.email,
        to=tuple(args.to),
        email_when_empty=args.email_when_empty,
    )
    return await run(settings, options, sys.stdout, datetime.now(settings.pbx.timezone))


async def cmd_purge(settings: Settings, args: argparse.Namespace) -> int:
    days = args.days if args.days is not None else settings.retention.days
    if days < 1:
        raise ConfigError("--days must be at least 1")
    store = await Store.open(settings.database, max_size=1)
    try:
        await store.check_schema()
        now = datetime.now(settings.pbx.timezone)
        removed = await store.purge(now - timedelta(days=days))
        closed = await store.close_stale_attempts(now - timedelta(days=1))
    finally:
        await store.close()
    sys.stdout.write(f"purged {removed} calls older than {days} days\n")
    if closed:
        sys.stdout.write(f"closed {closed} callback attempts left open for over a day\n")
    return 0


async def cmd_agi(settings: Settings, args: argparse.Namespace) -> int:
    if args.syslog:
        logs.configure(getattr(args, "verbose", 0) or 0, syslog_tag="callback-desk-agi")
    if args.words[:1] == ["serve"]:
        from agi.server import serve

        return await serve(settings, args.host, args.port)
    from agi.classic import run_classic

    return await run_classic(settings)


async def cmd_call(settings: Settings, args: argparse.Namespace) -> int:
    from agi.clicktocall import originate
    from agi.config import load as load_agi

    done = await originate(settings, args.call_id, args.extension)
    opening = load_agi(settings).opening_line(args.extension)
    sys.stdout.write(
        f"desk {done.extension} answered; calling {done.number.national} "
        f"(missed call {done.call_id}, channel {done.channel_id})\n"
        f"opening line: {opening}\n"
    )
    return 0


def _explain(exc: BaseException) -> str:
    parts = [str(exc) or type(exc).__name__]
    cause = exc.__cause__
    while cause is not None:
        text = str(cause)
        if text and text not in parts[-1]:
            parts.append(text)
        cause = cause.__cause__
    return ": ".join(parts)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    verbosity = getattr(args, "verbose", 0) or 0
    logs.configure(verbosity)
    try:
        settings = Settings.load(getattr(args, "config", None))
        handler: Handler = args.handler
        return asyncio.run(handler(settings, args))
    except ConfigError as exc:
        sys.stderr.write(f"callback-desk: {exc}\n")
        return 2
    except CallbackDeskError as exc:
        if verbosity:
            logger.exception("%s failed", args.command)
        sys.stderr.write(f"callback-desk {args.command}: {_explain(exc)}\n")
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
