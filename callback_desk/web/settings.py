"""The ``[web]`` section: where the inbox listens, its public address, and its signing secret.

The secret signs session cookies, CSRF tokens and the morning email's sign-in links. It comes
from ``CALLBACK_DESK_WEB_SECRET`` or, better, ``secret_file`` (a file only the service can read);
written in the TOML file itself it is refused unless that file is as private as a key file.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from callback_desk.core.config import Secret, Settings, private_secret
from callback_desk.core.exceptions import ConfigError

# Shorter than this and a signing key can be brute-forced offline from one cookie.
MIN_SECRET_CHARS = 32
# A sign-in link in a mailbox is a key to the inbox: it must not outlive a long weekend.
MAX_LINK_HOURS = 72
_HOST = re.compile(r"[A-Za-z0-9.:_-]{1,253}")


@dataclass(frozen=True)
class WebSettings:
    host: str = "127.0.0.1"
    port: int = 8047
    # The address people type (behind the TLS proxy): the morning email's links start with it.
    public_url: str = "https://callbacks.example.org"
    # A sign-in ends after this long whatever happens (a working day: the person who signed in
    # in the morning is not the one at the shared front-desk computer tonight) ...
    session_minutes: int = 12 * 60
    # ... and after this long without a click (a screen left signed in while its person is away
    # from the shared desk; the live list's own re-reads do not count as use).
    idle_minutes: int = 30
    link_hours: int = 12
    # The sign-in limit (callback_desk.web.auth.SignInLimit): after this many wrong passwords
    # a client waits before each further try (1 s, doubling per failure), and so does every
    # client that has failed, for an account with this many; a client with no failure is
    # always checked, so an attacker can slow an account down but never lock its owner out ...
    max_failures: int = 5
    # ... and waits at most this long; a tally is forgotten this long after its wait ended.
    lockout_minutes: int = 15
    secret: Secret | None = None
    # Addresses (or networks) of the proxies whose X-Forwarded-For / -Proto are believed. None
    # by default: any local process could otherwise make up a client address per try.
    trusted_proxies: tuple[str, ...] = ()

    def require_secret(self) -> Secret:
        if self.secret is None:
            raise ConfigError(
                "[web] secret is required: set secret_file (a file holding at least "
                f"{MIN_SECRET_CHARS} random characters) or CALLBACK_DESK_WEB_SECRET"
            )
        return self.secret


def load(settings: Settings) -> WebSettings:
    s = settings.section("web")
    host = s.text("host", WebSettings.host)
    port = s.integer("port", WebSettings.port, minimum=1)
    public_url = s.text("public_url", WebSettings.public_url).rstrip("/")
    session_minutes = s.integer("session_minutes", WebSettings.session_minutes, minimum=5)
    idle_minutes = s.integer("idle_minutes", WebSettings.idle_minutes, minimum=1)
    link_hours = s.integer("link_hours", WebSettings.link_hours, minimum=1)
    max_failures = s.integer("max_failures", WebSettings.max_failures, minimum=1)
    lockout_minutes = s.integer("lockout_minutes", WebSettings.lockout_minutes, minimum=1)
    inline = s.inline_secret(
        "secret",
        "move it to a file of its own named by secret_file (chmod 0640, group callback-desk), "
        "or to CALLBACK_DESK_WEB_SECRET in the service's environment file",
    )
    secret_file = s.text("secret_file", "")
    trusted_proxies = s.strings("trusted_proxies", WebSettings.trusted_proxies)
    s.finish()

    for proxy in trusted_proxies:
        _check_proxy(proxy)
    if not _HOST.fullmatch(host):
        raise ConfigError(f"[web] host = {host!r} is not an address")
    if port > 65535:
        raise ConfigError(f"[web] port = {port} is not a valid TCP port")
    if idle_minutes > session_minutes:
        raise ConfigError(
            f"[web] idle_minutes = {idle_minutes} is longer than session_minutes = "
            f"{session_minutes}, which ends every sign-in first"
        )
    if link_hours > MAX_LINK_HOURS:
        # The database refuses a longer one too (issue_sign_in_link, sql/0008_least_privilege.sql).
        raise ConfigError(
            f"[web] link_hours = {link_hours}: an email sign-in link may last "
            f"{MAX_LINK_HOURS} hours at most"
        )
    parts = urlsplit(public_url)
    if parts.scheme not in ("https", "http") or not parts.netloc or parts.query:
        raise ConfigError(
            f"[web] public_url = {public_url!r} must be an address like https://callbacks.example.org"
        )
    secret = inline if inline else None
    if secret_file:
        secret = _read_secret(secret_file)
    if secret is not None and len(secret.reveal()) < MIN_SECRET_CHARS:
        raise ConfigError(f"[web] secret must be at least {MIN_SECRET_CHARS} characters long")
    return WebSettings(
        host=host,
        port=port,
        public_url=public_url,
        session_minutes=session_minutes,
        idle_minutes=idle_minutes,
        link_hours=link_hours,
        max_failures=max_failures,
        lockout_minutes=lockout_minutes,
        secret=secret,
        trusted_proxies=trusted_proxies,
    )


def _check_proxy(proxy: str) -> None:
    try:
        ipaddress.ip_network(proxy, strict=False)
    except ValueError:
        raise ConfigError(
            f"[web] trusted_proxies: {proxy!r} is not an address or a network (the TLS "
            'proxy\'s own address, e.g. "127.0.0.1"; "*" would believe any client)'
        ) from None


def _read_secret(path: str) -> Secret:
    return private_secret("web", "secret_file", Path(path), "chmod 0640, group callback-desk")
