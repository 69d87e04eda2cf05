"""The morning email: multipart/alternative (plain text + HTML), one per recipient.

Only the report's own text travels: no audio, no notes, no attachments. With
``mask_numbers_in_email`` the numbers show their last four digits only and no ``tel:`` link is
made (a link would carry the full number). smtplib is blocking, so sending runs in a thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import smtplib
import ssl
from collections.abc import Iterator, Sequence
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from callback_desk.core.exceptions import ConfigError, MailError
from callback_desk.core.shown import line_of
from callback_desk.report import render_html
from callback_desk.report.model import (
    Report,
    headline,
    how,
    masked_number,
    number_shown,
)
from callback_desk.report.render_text import clean, span, week_sentences, when
from callback_desk.report.settings import SmtpSettings

logger = logging.getLogger(__name__)


def subject(report: Report) -> str:
    """``3 callers to call back (1 new) — Tue 8:00``: the counts and when the report was made."""
    at = report.generated_at.astimezone(report.tz)
    return f"{headline(report)} — {at:%a} {at.hour}:{at:%M}"


def plain(report: Report, *, masked: bool) -> str:
    """The text/plain part: a list rather than a table, so it reads on a phone."""
    out = [
        headline(report),
        span(report).capitalize(),
        "",
    ]
    if report.inbox_link:
        out += [
            "Call back from your desk phone (neutral caller ID) in your callback inbox;",
            f"this link signs you in once: {report.inbox_link}",
            "",
        ]
    for c in report.callers:
        number = masked_number(c) if masked else number_shown(c, report.country)
        new = "  (new)" if c.awaiting and c.new else ""
        out.append(f"* {clean(number)}  {clean(c.name)}".rstrip() + new)
        detail = f"  {c.calls} call{'s' if c.calls != 1 else ''}, last {when(c.last_at, report.tz)}"
        if c.reached_voicemail:
            detail += ", reached the greeting"
        out.append(detail)
        if line_of(c):
            out.append(f"  line {clean(line_of(c))}")
        if c.attempts:
            out.append(f"  {c.attempts} callback attempts so far")
        if not c.awaiting:
            out.append(f"  {how(c.returned_how)}")
        elif report.opening_line:
            out.append(f'  Say: "{report.opening_line}"')
        out.append("")
    if not report.callers:
        out += ["Nobody is waiting for a callback.", ""]
    if report.week is not None:
        out.append(" ".join(week_sentences(report.week)))
    return "\n".join(out) + "\n"


def compose(report: Report, to: str, sender: str, *, masked: bool) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject(report)
    message["Date"] = formatdate(report.generated_at.timestamp(), localtime=True)
    message["Message-ID"] = make_msgid("callback-desk", domain=sender.rpartition("@")[2] or None)
    # A report, not a conversation: no vacation replies or read receipts back to the sender.
    message["Auto-Submitted"] = "auto-generated"
    message["X-Auto-Response-Suppress"] = "All"
    message.set_content(plain(report, masked=masked))
    message.add_alternative(render_html.render(report, mask=masked, heat="table"), subtype="html")
    return message


def _context(settings: SmtpSettings) -> ssl.SSLContext:
    try:
        return ssl.create_default_context(cafile=settings.ca_file or None)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"[smtp] ca_file = {settings.ca_file!r} cannot be read: {exc}") from exc


def _connect(settings: SmtpSettings) -> smtplib.SMTP:
    if settings.security == "tls":
        return smtplib.SMTP_SSL(
            settings.host, settings.port, timeout=settings.timeout, context=_context(settings)
        )
    client = smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout)
    if settings.security == "starttls":
        client.ehlo()
        if not client.has_extn("starttls"):
            client.close()
            raise MailError(
                f"{settings.host}:{settings.port} does not offer STARTTLS; refusing to send the "
                "report in clear text (set [smtp] security = 'tls', or 'none' to allow it)"
            )
        client.starttls(context=_context(settings))
        client.ehlo()
    return client


@contextlib.contextmanager
def _session(settings: SmtpSettings) -> Iterator[smtplib.SMTP]:
    """A logged-in SMTP session; every failure, also while sending, as one MailError."""
    try:
        client = _connect(settings)
        try:
            if settings.username and settings.password:
                client.login(settings.username, settings.password.reveal())
            yield client
        finally:
            try:
                client.quit()
            except smtplib.SMTPServerDisconnected:
                logger.debug("SMTP server closed the connection before QUIT")
    except ssl.SSLError as exc:
        raise MailError(f"TLS with {settings.host}:{settings.port} failed: {exc}") from exc
    except smtplib.SMTPAuthenticationError as exc:
        # The reply text may quote the user name but never the password.
        raise MailError(f"{settings.host} refused the SMTP login for {settings.username}") from exc
    except (smtplib.SMTPException, OSError) as exc:
        raise MailError(f"sending through {settings.host}:{settings.port} failed: {exc}") from exc


def send_blocking(settings: SmtpSettings, messages: Sequence[EmailMessage]) -> None:
    if settings.security == "none" and settings.password:
        raise ConfigError("[smtp] a password with security = 'none' would travel in clear text")
    with _session(settings) as client:
        for message in messages:
            client.send_message(message)
            logger.info("Sent the report to %s", message["To"], extra={"action": "report_mailed"})


def check_blocking(settings: SmtpSettings) -> str:
    """Connect as a send would (TLS, certificate, login) and QUIT; says what was verified."""
    with _session(settings):
        pass
    login = f", logged in as {settings.username}" if settings.username else ""
    return f"{settings.host}:{settings.port} with {settings.security}{login}"


async def send(settings: SmtpSettings, messages: Sequence[EmailMessage]) -> None:
    if messages:
        await asyncio.to_thread(send_blocking, settings, messages)
