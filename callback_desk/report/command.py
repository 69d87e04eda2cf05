"""``callback-desk report``: from options and settings to output or email (the composition root).

Everything here is wiring: the window, the queries, the renderers and the mail are separate.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Literal, TextIO

from callback_desk.core.config import Settings
from callback_desk.core.exceptions import ConfigError
from callback_desk.core.store import Store
from callback_desk.report import query, render_csv, render_html, render_text
from callback_desk.report.model import Report
from callback_desk.report.render_json import dumps, report_json
from callback_desk.report.settings import (
    Recipient,
    ReportSettings,
    check_address,
    report_settings,
    smtp_settings,
)
from callback_desk.report.window import previous_closing

logger = logging.getLogger(__name__)

Format = Literal["text", "csv", "json", "html"]
# The email's sign-in link to the callback inbox for a recipient (None: not an inbox user).
# Made by the web feature; the command line passes it in, so the report does not import it.
InboxLinks = Callable[[Store, str], Awaitable[str | None]]


@dataclass(frozen=True)
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


@dataclass(frozen=True)
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
    store: Store,
    settings: Settings,
    rs: ReportSettings,
    options: ReportOptions,
    win: Window,
    recipient: Recipient | None = None,
) -> Report:
    covers = recipient.covers if recipient and recipient.covers else options.covers
    async with query.reading(store) as conn:
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
        return dumps(report_json(report)) + "\n"
    if fmt == "csv":
        return render_csv.render(report)
    if fmt == "html":
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


async def run(
    settings: Settings,
    options: ReportOptions,
    out: TextIO,
    now: datetime,
    links: InboxLinks | None = None,
) -> int:
    rs = report_settings(settings)
    win = window(options, rs, now, timedelta(days=settings.awaiting.lookback_days))
    if not options.email:
        if options.to:
            raise ConfigError("--to only makes sense with --email")
        store = await Store.open(settings.database, max_size=1)
        try:
            await store.check_schema()
            report = await build(store, settings, rs, options, win)
        finally:
            await store.close()
        out.write(render(report, options.format))
        return 0
    return await _email(settings, rs, options, win, out, links)


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
    store = await Store.open(settings.database, max_size=1)
    try:
        await store.check_schema()
        for recipient in recipients:
            report = await build(store, settings, rs, options, win, recipient)
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
