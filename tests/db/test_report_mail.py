"""``report --email`` against an aiosmtpd server on a real socket (STARTTLS, TLS, clear)."""

from __future__ import annotations

import io
import logging
import re
from collections.abc import AsyncIterator
from datetime import datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from callback_desk.core.exceptions import MailError
from callback_desk.core.store import Store
from callback_desk.report.command import ReportOptions, run
from fakes.settings import make_settings
from tests.report_support import Sink, call, self_signed, start_smtp

# The component under test connects with cbd_report's rights only (sql/grants.sql).
pytestmark = pytest.mark.db_role("cbd_report")

NY = ZoneInfo("America/New_York")
NOW = datetime(2026, 11, 24, 8, 0, tzinfo=NY)
HOSTILE = '<img src=x onerror=alert(1)> "Zoë" & 日本\r\nBcc: victim@example.org'
PASSWORD = "s3cret pass"


@pytest.fixture
def cert(tmp_path: Path) -> tuple[Path, Path]:
    return self_signed(tmp_path)


@pytest.fixture
async def calls(store: Store, db_dsn: str) -> str:
    await store.record_call(
        "pbx", call("a1", datetime(2026, 11, 23, 19, tzinfo=NY), "2125550123", name=HOSTILE)
    )
    await store.record_call(
        "pbx",
        call(
            "b1",
            datetime(2026, 11, 23, 21, tzinfo=NY),
            "3125550188",
            name="Robin",
            did="2001",
            rang=("PJSIP/101@phones",),
        ),
    )
    return db_dsn


async def send(
    dsn: str,
    port: int,
    smtp: dict[str, Any],
    *,
    options: ReportOptions | None = None,
    **report: Any,
) -> str:
    settings = make_settings(
        dsn,
        pbx={"timezone": "America/New_York"},
        report={"email_to": ["desk@example.org"], **report},
        smtp={
            "host": "127.0.0.1",
            "port": port,
            "sender": "reports@example.org",
            "timeout": 5,
            **smtp,
        },
    )
    out = io.StringIO()
    assert await run(settings, options or ReportOptions(email=True), out, NOW) == 0
    return out.getvalue()


def parsed(sink: Sink) -> list[EmailMessage]:
    messages = []
    for envelope in sink.envelopes:
        assert isinstance(envelope.content, bytes)
        message = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(message, EmailMessage)
        messages.append(message)
    return messages


def parts(message: EmailMessage) -> tuple[str, str]:
    assert message.get_content_type() == "multipart/alternative"
    kinds = [p.get_content_type() for p in message.iter_parts()]
    assert kinds == ["text/plain", "text/html"]  # no audio, no attachments
    assert not list(message.iter_attachments())
    plain = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert plain is not None and html is not None
    return plain.get_content(), html.get_content()


@pytest.fixture
async def starttls_server(cert: tuple[Path, Path]) -> AsyncIterator[tuple[Sink, int]]:
    sink = Sink()
    server, port = await start_smtp(sink, cert=cert)
    try:
        yield sink, port
    finally:
        server.close()
        await server.wait_closed()


async def test_starttls_login_and_one_email_per_recipient(
    calls: str,
    starttls_server: tuple[Sink, int],
    cert: tuple[Path, Path],
    caplog: pytest.LogCaptureFixture,
) -> None:
    sink, port = starttls_server
    caplog.set_level(logging.DEBUG)
    out = await send(
        calls,
        port,
        {"username": "desk", "password": PASSWORD, "ca_file": str(cert[0])},
        recipients={"jane@example.org": {"covers": ["101"], "first_name": "Jane"}},
        mask_numbers_in_email=False,  # the default masks; this test reads whole numbers
    )
    assert out.splitlines() == [
        "mailing desk@example.org: 2 callers",
        "mailing jane@example.org: 1 caller",
        "sent 2 emails",
    ]
    assert sink.logins == [(b"desk", PASSWORD.encode())]
    assert sink.tls_seen == [True, True]
    assert [e.rcpt_tos for e in sink.envelopes] == [["desk@example.org"], ["jane@example.org"]]
    desk, jane = parsed(sink)
    assert desk["Subject"] == "2 callers to call back (2 new) — Tue 8:00"
    assert jane["Subject"] == "1 caller to call back (1 new) — Tue 8:00"
    assert desk["From"] == "reports@example.org" and desk["To"] == "desk@example.org"
    assert desk["Auto-Submitted"] == "auto-generated"
    assert desk["Bcc"] is None and "victim" not in str(desk["To"])
    plain, html = parts(desk)
    assert "<img src=x" not in html
    assert "&lt;img src=x onerror=alert(1)&gt; &quot;Zoë&quot; &amp; 日本" in html
    assert "tel:" not in html and "tel:" not in plain  # [report] tel_links is off by default
    assert "(212) 555-0123" in plain and "Zoë" in plain
    assert "\r\nBcc" not in plain
    jane_plain, jane_html = parts(jane)
    assert "(312) 555-0188" in jane_plain and "555-0123" not in jane_plain
    assert "Hi, this is Jane, I think I missed a call from this number earlier." in jane_html
    assert PASSWORD not in caplog.text


async def test_masked_numbers_in_email_only(
    calls: str, starttls_server: tuple[Sink, int], cert: tuple[Path, Path]
) -> None:
    sink, port = starttls_server
    await send(calls, port, {"ca_file": str(cert[0])}, mask_numbers_in_email=True)
    plain, html = parts(parsed(sink)[0])
    for body in (plain, html):
        assert "•••• 0123" in body and "•••• 0188" in body
        assert re.search(r"555\D{0,2}01(23|88)", body) is None
        assert "tel:" not in body


async def test_untrusted_certificate_is_refused(
    calls: str, starttls_server: tuple[Sink, int]
) -> None:
    sink, port = starttls_server
    with pytest.raises(MailError, match=r"TLS with 127\.0\.0\.1"):
        await send(calls, port, {})
    assert sink.envelopes == []


async def test_server_without_starttls_is_refused_unless_opted_out(calls: str) -> None:
    sink = Sink()
    server, port = await start_smtp(sink, cert=None, starttls=False)
    try:
        with pytest.raises(MailError, match="does not offer STARTTLS; refusing"):
            await send(calls, port, {"security": "starttls"})
        assert sink.envelopes == []
        await send(calls, port, {"security": "none"})
        assert len(sink.envelopes) == 1 and sink.tls_seen == [False]
    finally:
        server.close()
        await server.wait_closed()


async def test_implicit_tls(calls: str, cert: tuple[Path, Path]) -> None:
    sink = Sink()
    server, port = await start_smtp(sink, cert=cert, implicit_tls=True)
    try:
        await send(calls, port, {"security": "tls", "ca_file": str(cert[0])})
    finally:
        server.close()
        await server.wait_closed()
    assert len(sink.envelopes) == 1
    assert parsed(sink)[0]["Subject"] == "2 callers to call back (2 new) — Tue 8:00"


async def test_wrong_password_is_a_mail_error_without_the_password(
    calls: str, starttls_server: tuple[Sink, int], cert: tuple[Path, Path]
) -> None:
    sink, port = starttls_server
    with pytest.raises(MailError) as info:
        await send(calls, port, {"username": "desk", "password": "nope", "ca_file": str(cert[0])})
    assert "refused the SMTP login for desk" in str(info.value)
    assert "nope" not in str(info.value)
    assert sink.envelopes == []


async def test_empty_report_mail_is_configurable(
    db_dsn: str, starttls_server: tuple[Sink, int], cert: tuple[Path, Path]
) -> None:
    sink, port = starttls_server
    smtp = {"ca_file": str(cert[0])}
    out = await send(db_dsn, port, smtp, email_when_empty=False)
    assert out.splitlines() == [
        "not mailing desk@example.org: nobody to call back",
        "sent 0 emails",
    ]
    assert sink.envelopes == []
    await send(db_dsn, port, smtp)  # default: a quiet morning is still reported
    (message,) = parsed(sink)
    assert message["Subject"] == "Nobody to call back — Tue 8:00"
    assert "Nobody is waiting for a callback." in parts(message)[0]
    # The command line wins over the file.
    await send(db_dsn, port, smtp, options=ReportOptions(email=True, email_when_empty=False))
    assert len(sink.envelopes) == 1


async def test_to_and_for_send_one_filtered_report(
    calls: str, starttls_server: tuple[Sink, int], cert: tuple[Path, Path]
) -> None:
    sink, port = starttls_server
    options = ReportOptions(email=True, to=("me@example.org",), covers=("2001",))
    await send(calls, port, {"ca_file": str(cert[0])}, options=options)
    assert [e.rcpt_tos for e in sink.envelopes] == [["me@example.org"]]
    plain, _ = parts(parsed(sink)[0])
    assert "Robin" in plain and "Zoë" not in plain
