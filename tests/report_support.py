"""Shared helpers for tests/db/test_report_*.py: calls to record, and a strict SMTP sink."""

from __future__ import annotations

import asyncio
import shutil
import ssl
import subprocess
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from callback_desk.core.model import CallRecord, Direction, Outcome, Reason
from callback_desk.core.phone import is_callable, number_key


def call(linkedid: str, at: datetime, number: str = "2125550123", **changes: Any) -> CallRecord:
    """A missed inbound call from ``number`` at ``at`` (US numbering)."""
    base = CallRecord(
        linkedid=linkedid,
        direction=Direction.INBOUND,
        outcome=Outcome.MISSED,
        reason=Reason.HANGUP_WHILE_RINGING,
        number=number,
        name="Caller",
        number_key=number_key(number, "US"),
        callable=is_callable(number, "US"),
        did="2000",
        rang=("PJSIP/100@phones",),
        started_at=at,
        ended_at=at + timedelta(seconds=20),
        ring_seconds=12.0,
        reached_voicemail=False,
    )
    return replace(base, **changes)


@dataclass
class Sink:
    """Keeps every message; remembers the credentials it was given."""

    envelopes: list[Envelope] = field(default_factory=list)
    logins: list[tuple[bytes, bytes]] = field(default_factory=list)
    tls_seen: list[bool] = field(default_factory=list)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.envelopes.append(envelope)
        self.tls_seen.append(session.ssl is not None)
        return "250 OK"

    def authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        assert isinstance(data, LoginPassword)
        self.logins.append((data.login, data.password))
        ok = data.password == b"s3cret pass"
        # handled=False: aiosmtpd then answers 535 itself (its default assumes we replied).
        return AuthResult(success=ok, handled=False)


def self_signed(tmp: Path) -> tuple[Path, Path]:
    """A throwaway certificate for 127.0.0.1 and localhost, made with the openssl CLI."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    cert, key = tmp / "cert.pem", tmp / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-keyout", str(key), "-out", str(cert), "-subj", "/CN=localhost",
            "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


async def start_smtp(
    sink: Sink,
    *,
    cert: tuple[Path, Path] | None = None,
    starttls: bool = True,
    implicit_tls: bool = False,
) -> tuple[asyncio.Server, int]:
    """An aiosmtpd server on a real socket in this loop (smtplib runs in a thread)."""
    loop = asyncio.get_running_loop()
    context = None
    if cert is not None:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(*cert)

    def protocol() -> SMTP:
        return SMTP(
            sink,
            hostname="localhost",
            tls_context=context if starttls and not implicit_tls else None,
            require_starttls=starttls and not implicit_tls and context is not None,
            authenticator=sink.authenticate,
            auth_require_tls=True,
            loop=loop,
        )

    server = await loop.create_server(
        protocol, "127.0.0.1", 0, ssl=context if implicit_tls else None
    )
    return server, server.sockets[0].getsockname()[1]
