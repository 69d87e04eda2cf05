"""``callback-desk report``: from options and settings to output or email (the composition root).

Everything here is wiring: the window, the queries, the renderers and the mail are separate.
"""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from datetime import datetime, timedelta

from callback_desk.core import lazylog, migrate, pgwire
from callback_desk.core.config import DatabaseSettings, Settings
from callback_desk.core.connection import COMMAND_TIMEOUT
from callback_desk.core.dberrors import Target, connection_error, mapped_errors
from callback_desk.core.exceptions import ConfigError, StoreError
from callback_desk.core.overlap import Overlapped
from callback_desk.core.record import record, replace
from callback_desk.core.typeshim import TYPE_CHECKING
from callback_desk.report import query, render_text
from callback_desk.report.model import Report
from callback_desk.report.render_json import report_json
from callback_desk.report.settings import (
    Recipient,
    ReportSettings,
    check_address,
    report_settings,
    smtp_settings,
)
from callback_desk.report.window import previous_closing

logger = lazylog.get(__name__)  # see callback_desk.cli's logger

if TYPE_CHECKING:
    from typing import Any, Literal, TextIO, TypeAlias

    from callback_desk.core.store import Store

    # The email's sign-in link to the callback inbox for a recipient (None: not an inbox
    # user). Made by the web feature; the command line passes it in, so the report does not
    # import it.
    InboxLinks = Callable[[Store, str], Awaitable[str | None]]

    # For mypy only: typing is not loaded on the report's path (callback_desk.core.typeshim).
    Format: TypeAlias = Literal["text", "csv", "json", "html"]


@record
class ReportOptions:
    since: datetime | None = None  # naive values are read in the practice's time zone
    until: datetime | None = None
    include_returned: bool = False
    covers: tuple[str, ...] = ()
    format: Format = "text"
    week: bool = True
    email: bool = False
    to: tuple[str, ...] = ()
    # None: [report] email_when_empty decides.
    email_when_empty: bool | None = None


@record
class Window:
    since: datetime
    until: datetime
    now: datetime
    # Calls at or after this are marked new: the last business day's closing before ``until``.
    new_since: datetime


def window(
    options: ReportOptions, rs: ReportSettings, now: datetime, lookback: timedelta
) -> Window:
    """By default the look-back ending now (every caller still awaiting a callback), with what
    came in since the last closing marked new; ``--until`` alone moves the whole window."""
    tz = rs.timezone
    now = now.astimezone(tz)

    def aware(moment: datetime) -> datetime:
        return moment if moment.tzinfo else moment.replace(tzinfo=tz)

    until = aware(options.until) if options.until else now
    since = aware(options.since) if options.since else until - lookback
    if since >= until:
        raise ConfigError(f"--since ({since.isoformat()}) must be before --until")
    return Window(since, until, now, previous_closing(until, rs.hours, tz))


async def build(
    reading: AbstractAsyncContextManager[Any],
    settings: Settings,
    rs: ReportSettings,
    options: ReportOptions,
    win: Window,
    recipient: Recipient | None = None,
) -> Report:
    covers = recipient.covers if recipient and recipient.covers else options.covers
    async with reading as conn:
        callers = await query.callers(
            conn,
            win.since,
            win.until,
            win.new_since,
            include_returned=options.include_returned,
            covers=covers,
        )
        week = (
            await query.week(conn, win.until, rs.week_days, rs.timezone, covers)
            if options.week
            else None
        )
        gaps = await query.gaps(conn, win.since, win.until)
    return Report(
        since=win.since,
        until=win.until,
        new_since=win.new_since,
        generated_at=win.now,
        tz=rs.timezone,
        country=settings.pbx.country,
        callers=tuple(callers),
        week=week,
        include_returned=options.include_returned,
        covers=tuple(covers),
        opening_line=rs.opening_for(recipient.first_name if recipient else ""),
        tel_links=rs.tel_links,
        gaps=tuple(gaps),
    )


def render(report: Report, fmt: Format) -> str:
    if fmt == "json":
        return report_json(report) + "\n"
    # The format asked for, only: the csv and html modules are a few ms of a report's start.
    if fmt == "csv":
        from callback_desk.report import render_csv

        return render_csv.render(report)
    if fmt == "html":
        from callback_desk.report import render_html

        return render_html.render(report)
    return render_text.render(report)


def _recipients(options: ReportOptions, rs: ReportSettings) -> tuple[Recipient, ...]:
    if options.to:
        return tuple(
            Recipient(check_address(a, "--to"), options.covers, rs.first_name) for a in options.to
        )
    if options.covers:
        raise ConfigError(
            "--for with --email needs --to; per-therapist mail is set in [report.recipients]"
        )
    if not rs.recipients:
        raise ConfigError(
            "--email: no recipients (set [report] email_to or [report.recipients], or use --to)"
        )
    return rs.recipients


def _load_number_rules(country: str) -> None:
    """Import phonenumbers and read ``country``'s rules in a thread
    (:class:`~callback_desk.core.overlap.Overlapped`), started before the report waits for
    PostgreSQL. Every number the report shows is formatted by phonenumbers
    (:func:`callback_desk.core.phone.national_format`), whose import and first number were
    ~35 ms of a one-practice report as a command (``python -X importtime``, cProfile), as long
    as its queries; those waits let the thread run. The first use waits for the import, if it
    is not done (Python's import lock), so nothing depends on when the thread ends, and nobody
    asks for its result: a failure shows again at that first use. The thread also formats the
    country's example number: the first number of a length compiles the rules
    :func:`~callback_desk.core.phone.national_format` keeps for it (its patterns; ~5 ms of the
    report's rendering), and a practice's callers are mostly local numbers of one length."""
    if "phonenumbers" in sys.modules:
        return

    def load() -> None:
        import phonenumbers

        from callback_desk.core.phone import national_format

        example = phonenumbers.example_number(country)  # None: a region without numbers
        if example is not None:
            key = phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164)
            national_format(key, key, country)

    Overlapped(load, name="number-rules", daemon=False)


def _plan(
    settings: Settings, options: ReportOptions, now: datetime
) -> tuple[ReportSettings, Window]:
    rs = report_settings(settings)
    win = window(options, rs, now, timedelta(days=settings.awaiting.lookback_days))
    if options.to and not options.email:
        raise ConfigError("--to only makes sense with --email")
    return rs, win


def run_on_screen(
    settings: Settings, options: ReportOptions, out: TextIO, now: datetime
) -> int | None:
    """:func:`run` for a report on screen, without an event loop: its few queries over one
    :mod:`callback_desk.core.pgwire` connection. Importing asyncio and asyncpg was ~90 ms of a
    one-practice report as a command (``python -X importtime``), which the morning report's
    users wait through. None, having read and written nothing, for an email, a DSN that client
    leaves to asyncpg or a connection it could not open: the command line then awaits
    :func:`run`, which reads through the :class:`~callback_desk.core.store.Store` as before (and
    fails, if it does, in the words it always used). It blocks: not for a caller on an event
    loop."""
    if options.email:
        return None
    rs, win = _plan(settings, options, now)
    _load_number_rules(settings.pbx.country)
    conn = _connect_wire(settings.database)
    if conn is None:
        return None
    try:
        report = pgwire.drive(_read_wire(conn, settings, rs, options, win))
    finally:
        conn.close()
    out.write(render(report, options.format))
    return 0


async def _read_wire(
    conn: pgwire.Connection,
    settings: Settings,
    rs: ReportSettings,
    options: ReportOptions,
    win: Window,
) -> Report:
    async with mapped_errors("checking the schema"):
        await migrate.check_current(pgwire.WirePool(conn))
    return await build(query.reading_wire(conn), settings, rs, options, win)


async def run(
    settings: Settings,
    options: ReportOptions,
    out: TextIO,
    now: datetime,
    links: InboxLinks | None = None,
) -> int:
    """The report on screen or by email, through the :class:`~callback_desk.core.store.Store`
    (asyncpg): for a caller on an event loop, whose other tasks must keep running. The command
    line tries :func:`run_on_screen` first."""
    rs, win = _plan(settings, options, now)
    _load_number_rules(settings.pbx.country)
    if options.email:
        return await _email(settings, rs, options, win, out, links)
    from callback_desk.core.store import Store  # not at the top: see run_on_screen

    store = await Store.open(settings.database, max_size=1)
    try:
        await store.check_schema()
        report = await build(query.reading(store), settings, rs, options, win)
    finally:
        await store.close()
    out.write(render(report, options.format))
    return 0


def _connect_wire(database: DatabaseSettings) -> pgwire.Connection | None:
    """A pgwire connection, or None (see :func:`run_on_screen`). No answer within the connect
    timeout is the error asyncpg would report, without waiting for it as long again."""
    dsn = database.dsn.reveal()
    try:
        return pgwire.Connection.open(
            pgwire.parse_dsn(dsn), database.connect_timeout, command_timeout=COMMAND_TIMEOUT
        )
    except TimeoutError as exc:
        raise connection_error(exc, Target.of(dsn), database.connect_timeout) from None
    except (pgwire.Unsupported, pgwire.ServerError, StoreError, OSError) as exc:
        logger.debug("Reading the report over asyncpg: %s", type(exc).__name__)
        return None


async def _email(
    settings: Settings,
    rs: ReportSettings,
    options: ReportOptions,
    win: Window,
    out: TextIO,
    links: InboxLinks | None,
) -> int:
    # Here, not at the top: smtplib, ssl and email cost tens of milliseconds of imports that a
    # report on screen does not need.
    from callback_desk.report import mail

    # Settings first: a typo in [smtp] should fail before the database is touched.
    recipients = _recipients(options, rs)
    smtp = smtp_settings(settings)
    when_empty = (
        rs.email_when_empty if options.email_when_empty is None else options.email_when_empty
    )
    messages = []
    from callback_desk.core.store import Store  # not at the top: see run_on_screen

    store = await Store.open(settings.database, max_size=1)
    try:
        await store.check_schema()
        for recipient in recipients:
            report = await build(query.reading(store), settings, rs, options, win, recipient)
            if not report.awaiting and not when_empty:
                out.write(f"not mailing {recipient.address}: nobody to call back\n")
                continue
            link = await links(store, recipient.address) if links else None
            if link:
                report = replace(report, inbox_link=link)
            masked = rs.mask_numbers_in_email
            messages.append(mail.compose(report, recipient.address, smtp.sender, masked=masked))
            n = len(report.awaiting)
            out.write(f"mailing {recipient.address}: {n} caller{'s' if n != 1 else ''}\n")
    finally:
        await store.close()
    await mail.send(smtp, messages)
    out.write(f"sent {len(messages)} email{'s' if len(messages) != 1 else ''}\n")
    return 0
