"""``callback-desk``: one command, with subcommands for every process and report.

Exit codes: 0 success, 1 runtime failure (database or PBX unreachable...), 2 a user mistake
(bad flag, bad or missing setting). Tracebacks only with ``-v``.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import io
import os
import signal
import sys
from collections.abc import Callable, Coroutine, Mapping, Sequence, Set
from datetime import datetime, timedelta
from pathlib import Path, PurePosixPath

from callback_desk import __version__
from callback_desk.core import heap, lazylog
from callback_desk.core.args import Parser, make_only
from callback_desk.core.config import (
    DEFAULT_CONFIG_PATH,
    ENV_PREFIX,
    NON_SETTING_NAMES,
    Settings,
    unknown_environment,
)
from callback_desk.core.exceptions import CallbackDeskError, ConfigError, StoreUnavailable
from callback_desk.core.typeshim import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Any, TypeAlias

    from callback_desk.core.store import Store
    from callback_desk.demo.inbox import InboxParts
    from callback_desk.report.command import ReportOptions

    # What add_subparsers returns: each configure_<command>_parser adds its subcommand to it.
    Subcommands: TypeAlias = argparse._SubParsersAction[Parser]

    Handler: TypeAlias = Callable[[Settings, argparse.Namespace], Coroutine[Any, Any, int]]
    # A command's way to run without an event loop (and without importing asyncio), or None
    # to leave it to its handler: ``p.set_defaults(without_loop=...)``.
    WithoutLoop: TypeAlias = Callable[[Settings, argparse.Namespace], int | None]
    Standalone: TypeAlias = Callable[[argparse.Namespace], Coroutine[Any, Any, int]]

# Lazy (callback_desk.core.lazylog): the report on screen usually logs nothing, and importing
# logging was ~8 ms of its start.
logger = lazylog.get(__name__)


def tcp_port(value: str) -> int:
    try:
        port = int(value)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{value!r} is not a TCP port (0-65535)")
    return port


def extension(value: str) -> str:
    if not (value.isascii() and value.isdigit() and len(value) <= 10):
        raise argparse.ArgumentTypeError(f"{value[:20]!r} is not an extension number")
    return value


def positive_int(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 1:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number >= 1")
    return number


def _common(config: bool = True) -> Parser:
    # SUPPRESS lets --config/-v appear before or after the subcommand without the subparser's
    # default overwriting a value given to the main parser.
    common = Parser(add_help=False)
    if config:  # not for the commands that read no config file (demo, sample)
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


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The whole command line: each subcommand's options are set by its own
    ``configure_<command>_parser``, beside the ``cmd_<command>`` that runs it. With ``argv``,
    only the subcommands it names are made (:func:`callback_desk.core.args.make_only`)."""
    common = _common()
    parser = Parser(
        prog="callback-desk",
        parents=[common],
        description="Call back every caller the practice missed.",
    )
    parser.add_argument("--version", action="version", version=f"callback-desk {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    if argv is not None:
        make_only(sub, argv)

    configure_migrate_parser(sub, common)
    configure_grant_parser(sub, common)
    configure_listen_parser(sub, common)
    configure_report_parser(sub, common)
    configure_purge_parser(sub, common)
    configure_agi_parser(sub, common)
    configure_call_parser(sub, common)
    configure_web_parser(sub, common)
    configure_user_parser(sub, common)
    configure_demo_parser(sub, common)
    configure_doctor_parser(sub, common)
    configure_install_parser(sub, common)
    configure_uninstall_parser(sub, common)
    configure_sample_parser(sub, common)
    return parser


async def _open_store(settings: Settings, **options: Any) -> Store:
    """:meth:`Store.open`, imported at the first command that needs it: asyncpg is ~50 ms of
    imports, and ``report`` on screen reads PostgreSQL without it (callback_desk.report.command).
    """
    from callback_desk.core.store import Store

    return await Store.open(settings.database, **options)


def configure_migrate_parser(sub: Subcommands, common: Parser) -> None:
    p = sub.add_parser("migrate", parents=[common], help="create or upgrade the database schema")
    p.set_defaults(handler=cmd_migrate)


async def cmd_migrate(settings: Settings, _args: argparse.Namespace) -> int:
    store = await _open_store(settings, max_size=1)
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


def configure_grant_parser(sub: Subcommands, common: Parser) -> None:
    p = sub.add_parser(
        "grant",
        parents=[common],
        help="create the per-component database roles (cbd_*) and grant them (as the DB admin)",
    )
    p.set_defaults(handler=cmd_grant)


async def cmd_grant(settings: Settings, _args: argparse.Namespace) -> int:
    store = await _open_store(settings, max_size=1)
    try:
        await store.grant()
    finally:
        await store.close()
    from callback_desk.core import roles

    sys.stdout.write(f"roles {', '.join(roles.ROLES)} granted as sql/grants.sql says\n")
    return 0


def configure_listen_parser(sub: Subcommands, common: Parser) -> None:
    p = sub.add_parser("listen", parents=[common], help="watch the PBX and record missed calls")
    p.set_defaults(handler=cmd_listen)


async def cmd_listen(settings: Settings, _args: argparse.Namespace) -> int:
    from ami_listener.gaps import watch
    from ami_listener.listener import Listener  # the composition root may see every package
    from ami_listener.spool import Spool

    settings.ami.require_secret()
    # The spool first: decided calls must have somewhere safe to go before we listen.
    spool = await Spool.open(settings.listener.state_dir, settings.listener.spool_max_mb << 20)
    try:
        store = await _open_store(settings)
        try:
            try:
                await store.check_schema()
            except StoreUnavailable as exc:
                # Start anyway: decided calls wait in the spool until the database is back.
                logger.warning("Starting without the database: %s", exc)
            listener = Listener(settings, store, watch(settings, store), spool=spool)
            heap.long_lived()
            import asyncio  # loaded already: this runs on its loop

            loop = asyncio.get_running_loop()
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, listener.stop)
            await listener.run()
        finally:
            await store.close()
    finally:
        await spool.close()
    return 0


def configure_report_parser(sub: Subcommands, common: Parser) -> None:
    p = sub.add_parser(
        "report",
        parents=[common],
        help="list the callers awaiting a callback (terminal, CSV, JSON, HTML or email)",
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
    p.set_defaults(handler=cmd_report, without_loop=report_on_screen)


def _report_options(args: argparse.Namespace) -> ReportOptions:
    from callback_desk.report.command import ReportOptions
    from callback_desk.report.settings import check_cover

    return ReportOptions(
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


def report_on_screen(settings: Settings, args: argparse.Namespace) -> int | None:
    """The report on screen without asyncio or asyncpg, when it can be
    (:func:`callback_desk.report.command.run_on_screen`); None leaves it to :func:`cmd_report`."""
    if args.email:
        return None
    from callback_desk.report.command import run_on_screen

    now = datetime.now(settings.pbx.timezone)
    # Without the cyclic collector while the report is read and written: a report of every
    # line makes hundreds of thousands of rows, values and entries that all live until it is
    # written and hold no cycles, and the collector only scanned them again and again (the
    # 75-day report of bench/year.py, ~15 % of its time). What exists before (modules,
    # settings) is never garbage either. Put back after: main() may be called in a process
    # that goes on.
    enabled = gc.isenabled()
    gc.disable()
    try:
        return run_on_screen(settings, _report_options(args), sys.stdout, now)
    finally:
        if enabled:
            gc.enable()


async def cmd_report(settings: Settings, args: argparse.Namespace) -> int:
    from callback_desk.report.command import run

    options = _report_options(args)
    now = datetime.now(settings.pbx.timezone)
    if not args.email:
        # The web feature (starlette, jinja2: ~130 ms of imports) only matters for the email's
        # sign-in links; a report on screen should not wait for it.
        return await run(settings, options, sys.stdout, now)
    from callback_desk.web.links import sign_in_link

    async def links(store: Store, address: str) -> str | None:
        return await sign_in_link(store, settings, address)

    return await run(settings, options, sys.stdout, now, links)


def configure_purge_parser(sub: Subcommands, common: Parser) -> None:
    p = sub.add_parser("purge", parents=[common], help="delete calls older than the retention")
    p.add_argument("--days", type=positive_int, help="override [retention] days")
    p.set_defaults(handler=cmd_purge)


async def cmd_purge(settings: Settings, args: argparse.Namespace) -> int:
    days = args.days if args.days is not None else settings.retention.days
    if days < 1:
        raise ConfigError("--days must be at least 1")
    store = await _open_store(settings, max_size=1)
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


def configure_agi_parser(sub: Subcommands, common: Parser) -> None:
    p = sub.add_parser(
        "agi",
        parents=[common],
        help="run the desk-phone menu: one classic AGI session, or 'agi serve' (FastAGI)",
    )
    # Only 'serve' or nothing: anything else is a typo, not a session to run. The classic AGI
    # script (which Asterisk runs with the AGI() arguments appended) is `python -m agi`.
    p.add_argument(
        "words",
        nargs="?",
        choices=["serve"],
        metavar="serve",
        help="'serve': run the FastAGI server (default 127.0.0.1:4573, see [agi] listen_*)",
    )
    p.add_argument("--host", help="FastAGI listen address (overrides [agi] listen_host)")
    p.add_argument(
        "--port", type=tcp_port, help="FastAGI listen port (overrides [agi] listen_port)"
    )
    p.add_argument("--syslog", action="store_true", help="log to syslog instead of stderr")
    p.set_defaults(handler=cmd_agi)


async def cmd_agi(settings: Settings, args: argparse.Namespace) -> int:
    if args.syslog:
        from callback_desk.core import logs

        logs.configure(getattr(args, "verbose", 0) or 0, syslog_tag="callback-desk-agi")
    if args.words == "serve":
        from agi.server import serve

        heap.long_lived()
        return await serve(settings, args.host, args.port)
    from agi.classic import run_classic_async

    return await run_classic_async(settings)


def configure_call_parser(sub: Subcommands, common: Parser) -> None:
    p = sub.add_parser(
        "call", parents=[common], help="click-to-call: ring a desk phone, then call a caller back"
    )
    p.add_argument(
        "call_id", type=positive_int, metavar="ID", help="the missed call's id (see 'report')"
    )
    p.add_argument(
        "--from",
        dest="extension",
        type=extension,
        required=True,
        metavar="EXT",
        help="the desk phone's extension; it rings first",
    )
    p.set_defaults(handler=cmd_call)


async def cmd_call(settings: Settings, args: argparse.Namespace) -> int:
    from agi.clicktocall import originate
    from agi.config import load as load_agi

    done = await originate(settings, args.call_id, args.extension)
    opening = load_agi(settings).opening_line(args.extension)
    sys.stdout.write(
        f"desk {done.extension} answered; calling {done.number.display} "
        f"(missed call {done.call_id}, channel {done.channel_id})\n"
        f"opening line: {opening}\n"
    )
    return 0


def configure_web_parser(sub: Subcommands, common: Parser) -> None:
    p = sub.add_parser(
        "web", parents=[common], help="serve the callback inbox (web pages; settings: [web])"
    )
    p.add_argument("--host", help="listen address (overrides [web] host)")
    p.add_argument("--port", type=tcp_port, help="listen port (overrides [web] port)")
    p.set_defaults(handler=cmd_web)


async def cmd_web(settings: Settings, args: argparse.Namespace) -> int:
    from callback_desk.web.server import serve

    heap.long_lived()
    return await serve(settings, args.host, args.port)


def configure_user_parser(sub: Subcommands, common: Parser) -> None:
    p = sub.add_parser(
        "user",
        parents=[common],
        help="add, change, disable, enable or list the accounts of the callback inbox",
    )
    p.add_argument("action", choices=["add", "passwd", "disable", "enable", "list"])
    p.add_argument("username", nargs="?", help="lower-case user name (not for 'list')")
    p.add_argument("--role", default="therapist", help="therapist | frontdesk | admin")
    p.add_argument(
        "--extension",
        dest="extensions",
        action="append",
        default=[],
        metavar="EXT",
        help="a desk phone this person calls from (repeatable); its lines are theirs",
    )
    p.add_argument("--email", default="", help="where their morning email goes")
    p.add_argument(
        "--password-stdin", action="store_true", help="read the password from one line of stdin"
    )
    p.set_defaults(handler=cmd_user)


async def cmd_user(settings: Settings, args: argparse.Namespace) -> int:
    from callback_desk.web.accounts import run as accounts

    if args.action != "list" and not args.username:
        raise ConfigError(f"user {args.action} needs a user name")
    return await accounts(
        settings,
        args.action,
        args.username,
        role=args.role,
        extensions=args.extensions,
        email=args.email,
        password_stdin=args.password_stdin,
    )


def configure_demo_parser(sub: Subcommands, common: Parser) -> None:
    p = sub.add_parser(
        "demo",
        parents=[_common(config=False)],
        help="see it work: a simulated PBX plays a morning, then the report and the menu",
        description="No PBX and no PostgreSQL needed (embedded: pip install "
        "'callback-desk[demo]'). Reads no config file.",
    )
    p.add_argument(
        "--keep",
        action="store_true",
        help="keep its database, settings and simulated PBX for `report` and `web` afterwards "
        "(it prints how to use them and the one command that removes them)",
    )
    p.add_argument(
        "--dsn",
        metavar="URL",
        help="create the demo database on this PostgreSQL server instead of an embedded one",
    )
    p.set_defaults(standalone=cmd_demo)


async def cmd_demo(args: argparse.Namespace) -> int:
    from callback_desk.demo.run import DemoOptions, run

    if not (getattr(args, "verbose", 0) or 0):
        import logging

        # The listener's own log lines would bury the demo's progress.
        logging.getLogger().setLevel(logging.WARNING)
    return await run(DemoOptions(keep=args.keep, dsn=args.dsn, inbox=_demo_inbox()), sys.stdout)


def _demo_inbox() -> InboxParts:
    """The real inbox and `user add`, handed to the demo (a sibling feature may not import them)."""
    from callback_desk.demo.inbox import InboxParts
    from callback_desk.web.accounts import run as accounts
    from callback_desk.web.app import create_app

    async def add_user(settings: Settings, username: str, desk: str, password: str) -> None:
        await accounts(
            settings,
            "add",
            username,
            extensions=[desk],
            password_stdin=True,
            stdin=io.StringIO(password + "\n"),
            out=io.StringIO(),
        )

    return InboxParts(app=create_app, add_user=add_user)


def configure_doctor_parser(sub: Subcommands, common: Parser) -> None:
    p = sub.add_parser(
        "doctor",
        parents=[common],
        help="check a live install: one line per check, with the fix (exit 1 if any fails)",
    )
    p.add_argument(
        "--env-file",
        type=Path,
        default=Path("/etc/callback-desk/listener.env"),
        metavar="PATH",
        help="the listener's secrets file (its database login, its AMI secret; default "
        "%(default)s)",
    )
    p.add_argument(
        "--asterisk-etc",
        type=Path,
        default=Path("/etc/asterisk"),
        metavar="DIR",
        help="where manager.conf is, when the PBX runs on this host (default %(default)s)",
    )
    p.add_argument(
        "--agi-script",
        type=Path,
        default=Path("/var/lib/asterisk/agi-bin/callback-desk-agi"),
        metavar="PATH",
        help="the classic AGI script, if the dialplan uses one (default %(default)s)",
    )
    p.add_argument(
        "--timeout", type=positive_int, default=5, metavar="SECONDS", help="per network check"
    )
    p.set_defaults(standalone=cmd_doctor)


async def cmd_doctor(args: argparse.Namespace) -> int:
    from callback_desk.doctor.checks import DoctorOptions, run

    if not (getattr(args, "verbose", 0) or 0):
        import logging

        # The checks say what went wrong; the AMI client's own retry lines would repeat it.
        logging.getLogger().setLevel(logging.CRITICAL)
    options = DoctorOptions(
        config=getattr(args, "config", None),
        env_file=args.env_file,
        asterisk_etc=args.asterisk_etc,
        agi_script=args.agi_script,
        timeout=float(args.timeout),
    )
    return await run(options, os.environ, sys.stdout)


def _install_common(p: argparse.ArgumentParser) -> None:
    """Options install and uninstall share: where, which PBX, how to reach PostgreSQL."""
    p.add_argument("--dry-run", action="store_true", help="show every change, make none")
    p.add_argument(
        "--root",
        type=Path,
        default=Path("/"),
        metavar="DIR",
        help="install into this directory as if it were / (a package build or a lab): files "
        "and config only; the database only with --pg-admin, Asterisk reloads only with "
        "--asterisk-cli",
    )
    p.add_argument(
        "--asterisk-etc",
        metavar="DIR",
        help="Asterisk's configuration directory, as seen inside --root (default /etc/asterisk)",
    )
    p.add_argument(
        "--pbx",
        choices=["freepbx", "asterisk", "none"],
        help="what to install for (default: detected: FreePBX by /etc/freepbx.conf or "
        "fwconsole, else Asterisk by manager.conf and extensions.conf)",
    )
    p.add_argument(
        "--pg-admin",
        metavar="DSN",
        help="PostgreSQL as its administrator (default: the local server as postgres, over its "
        "socket)",
    )
    p.add_argument(
        "--database", default="callback_desk", metavar="NAME", help="(default %(default)s)"
    )
    p.add_argument(
        "--asterisk-cli",
        metavar="CMD",
        help="how to run an Asterisk CLI command (default 'asterisk -rx'; none with --root)",
    )


def _install_request(args: argparse.Namespace) -> Any:
    import shlex
    import shutil  # here: with zlib, bz2 and lzma, a few ms of every command's start

    from callback_desk.install.command import Request
    from callback_desk.install.plan import InstallOptions

    if getattr(args, "config", None) is not None:
        raise ConfigError(f"{args.command} writes /etc/callback-desk/callback-desk.toml: "
                          "--config does not apply")  # fmt: skip
    root = args.root.resolve()
    if not root.is_dir():
        raise ConfigError(f"--root {args.root}: not a directory")
    on_this_host = root == Path("/")
    if args.asterisk_cli is not None:
        cli: tuple[str, ...] | None = tuple(shlex.split(args.asterisk_cli))
    else:
        cli = ("asterisk", "-rx") if on_this_host else None
    new = {
        key: getattr(args, key, None)
        for key in ("callback_number", "callback_name", "trunk", "desk_context",
                    "desk_channel", "timezone", "country")
    }  # fmt: skip
    options = InstallOptions(
        root=root,
        dry_run=args.dry_run,
        database=args.database,
        db_host=getattr(args, "db_host", "127.0.0.1"),
        db_port=getattr(args, "db_port", 5432),
        with_database=on_this_host or args.pg_admin is not None,
        asterisk_cli=cli,
        systemctl=shutil.which("systemctl") is not None,
        **new,
    )
    return Request(
        install=options,
        pg_admin=args.pg_admin,
        pbx=args.pbx,
        init=getattr(args, "init", None),
        asterisk_etc=PurePosixPath(args.asterisk_etc) if args.asterisk_etc else None,
        drop_data=getattr(args, "drop_data", False),
    )


def _quiet_core(args: argparse.Namespace) -> None:
    if not (getattr(args, "verbose", 0) or 0):
        import logging

        # The installer says each step itself; the migrations' own log lines would repeat it.
        logging.getLogger("callback_desk.core").setLevel(logging.WARNING)


def configure_install_parser(sub: Subcommands, _common_options: Parser) -> None:
    p = sub.add_parser(
        "install",
        # It writes the config (/etc/callback-desk/callback-desk.toml); it reads no other.
        parents=[_common(config=False)],
        help="set up Callback Desk on this PBX server, as root, then run the doctor",
        description="Users, config, secrets, the database, AMI accounts, the dialplan and the "
        "services; every change said on screen (--dry-run: said, not made). A second run "
        "changes nothing and says 'unchanged'; an existing config is kept. After 'pip install "
        "--upgrade' it is the upgrade. 'callback-desk uninstall' takes it all away again.",
    )
    _install_common(p)
    p.add_argument(
        "--init",
        choices=["systemd", "cron"],
        help="services as systemd units and timers, or the cron file (default: systemd when "
        "it runs the system)",
    )
    p.add_argument("--db-host", default="127.0.0.1", help="where the services reach PostgreSQL")
    p.add_argument("--db-port", type=tcp_port, default=5432)
    new = p.add_argument_group("for a new config (an existing one is kept as it is)")
    new.add_argument("--callback-number", metavar="NUMBER", help="[agi] callback_number")
    new.add_argument("--callback-name", metavar="NAME", help="[agi] callback_name")
    new.add_argument(
        "--trunk", metavar="ENDPOINT", help="plain Asterisk: the trunk callbacks leave on"
    )
    new.add_argument(
        "--desk-context", metavar="NAME", help="plain Asterisk: the desk phones' context (*47)"
    )
    new.add_argument("--desk-channel", metavar="TEMPLATE", help="[agi] desk_channel")
    new.add_argument("--timezone", metavar="ZONE", help="[pbx] timezone (default: the system's)")
    new.add_argument("--country", metavar="CC", help="[pbx] country")
    p.set_defaults(standalone=cmd_install)


async def cmd_install(args: argparse.Namespace) -> int:
    from callback_desk.install.command import install

    _quiet_core(args)
    request = _install_request(args)
    await install(request, sys.stdout)
    if request.install.dry_run or request.install.root != Path("/"):
        return 0
    sys.stdout.write("\ncallback-desk doctor:\n")
    sys.stdout.flush()
    return await cmd_doctor(
        argparse.Namespace(
            env_file=Path("/etc/callback-desk/listener.env"),
            asterisk_etc=Path(str(request.asterisk_etc or "/etc/asterisk")),
            agi_script=Path("/var/lib/asterisk/agi-bin/callback-desk-agi"),
            timeout=5,
            verbose=getattr(args, "verbose", 0),
        )
    )


def configure_uninstall_parser(sub: Subcommands, _common_options: Parser) -> None:
    p = sub.add_parser(
        "uninstall",
        parents=[_common(config=False)],
        help="remove what install added (its marked lines, its manifest); keep the database",
        description="Says what it keeps: the database with the call records, a file changed "
        "since install, a directory that is not empty (--drop-data: those too).",
    )
    _install_common(p)
    p.add_argument(
        "--drop-data",
        action="store_true",
        help="also drop the database and the roles install created, and remove files changed "
        "since install",
    )
    p.set_defaults(standalone=cmd_uninstall)


async def cmd_uninstall(args: argparse.Namespace) -> int:
    from callback_desk.install.command import uninstall

    _quiet_core(args)
    await uninstall(_install_request(args), sys.stdout)
    return 0


def configure_sample_parser(sub: Subcommands, _common_options: Parser) -> None:
    p = sub.add_parser(
        "sample",
        parents=[_common(config=False)],
        help="print a sample file an install is made from (no NAME: list them)",
        description="The config file, the manager.conf and extensions.conf sections, the "
        "systemd units and timers, cron and nginx (docs/install.md). Reads no config file.",
    )
    p.add_argument("name", nargs="?", metavar="NAME", help="e.g. manager.conf, callback-desk.toml")
    p.set_defaults(standalone=cmd_sample)


async def cmd_sample(args: argparse.Namespace) -> int:
    from callback_desk.core.samples import sample_text, samples

    if args.name is None:
        sys.stdout.write("".join(f"{name}\n" for name in samples()))
    else:
        sys.stdout.write(sample_text(args.name))
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


def _section_readers(named: Set[str]) -> list[Callable[[Settings], object]]:
    """The readers of the feature sections in ``named`` (the core's sections are read by
    :class:`Settings` itself). Each is imported only when its section is named: they import
    their features (the listener's, asyncpg), a tenth of a short command's start, and an
    installed unit's environment file (report.env: the database's section) names none of them.
    A section missing here is still checked for its name ([reprot] is a typo) but not for its
    keys; add a new feature's reader here."""
    readers: list[Callable[[Settings], object]] = []
    if "agi" in named:
        from agi.config import load as load_agi

        readers.append(load_agi)
    if "report" in named or "smtp" in named:
        from callback_desk.report.settings import report_settings, smtp_settings

        readers += [report_settings, smtp_settings]
    if "web" in named:
        from callback_desk.web.settings import load as load_web

        readers.append(load_web)
    if "reconcile" in named:
        from ami_listener.gaps import ReconcileSettings

        readers.append(ReconcileSettings.from_settings)
    return readers


def warn_unknown_environment(environ: Mapping[str, str]) -> None:
    """Log a warning per ``CALLBACK_DESK_*`` variable no setting reads (a typo is otherwise
    ignored in silence). The names are collected by reading, with defaults, the sections the
    environment names."""
    named = {
        n[len(ENV_PREFIX) :].partition("_")[0].lower()
        for n in environ
        if n.startswith(ENV_PREFIX) and n not in NON_SETTING_NAMES
    }
    if not named:  # nothing that could name a setting: nothing to read
        return
    probe = Settings.from_mapping({"database": {"dsn": "postgresql://probe/"}}, environ={})
    for read in _section_readers(named):
        try:
            read(probe)
        except ConfigError:  # a default that needs another setting; its keys were read
            pass
    known = probe.environment_names
    checked = frozenset(name.split("_")[2].lower() for name in known)
    for name in unknown_environment(environ, known, checked):
        logger.warning(
            "Ignoring environment variable %s: no setting has that name (typo?)",
            name,
            extra={"action": "unknown_env"},
        )


def main(argv: Sequence[str] | None = None) -> int:
    if argv is None:
        argv = sys.argv[1:]
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    verbosity = getattr(args, "verbose", 0) or 0
    # Set up at the first line logged (lazylog), and before any command but the report on
    # screen runs: they log through logging itself.
    lazylog.configure_later(verbosity)
    try:
        return _run(args, verbosity)
    finally:
        lazylog.drop()


def _run(args: argparse.Namespace, verbosity: int) -> int:
    warn_unknown_environment(os.environ)
    try:
        if hasattr(args, "standalone"):  # reads no config file (demo, doctor)
            import asyncio

            lazylog.ready()
            standalone: Standalone = args.standalone
            return asyncio.run(standalone(args))
        settings = Settings.load(getattr(args, "config", None), keep_snapshot=True)
        without_loop: WithoutLoop | None = getattr(args, "without_loop", None)
        done = without_loop(settings, args) if without_loop is not None else None
        if done is not None:
            return done
        import asyncio  # here: see WithoutLoop

        lazylog.ready()
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
    except BrokenPipeError:
        # stdout closed early (`callback-desk report | head`): not an error worth a traceback.
        with contextlib.suppress(OSError):
            sys.stdout = open(os.devnull, "w")
        return 141


if __name__ == "__main__":
    raise SystemExit(main())
