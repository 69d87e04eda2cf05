"""Who may do what, as pure logic: password hashes, signed tokens, CSRF and the sign-in limit.

- Passwords: argon2id (argon2-cffi's ``PasswordHasher``; its parameters travel in the hash, so
  raising them later rehashes on the next sign-in).
- Tokens (the session cookie and the morning email's sign-in link) are JSON signed with
  itsdangerous under a per-purpose salt, so a link can never be replayed as a cookie. Each carries
  its own ``exp``; the clock is passed in, so expiry is tested without waiting.
- CSRF: a token derived from the session's random id with HMAC. Every form carries it; every
  POST is refused without it (synchroniser token, no server-side state).
- The sign-in limit counts failures per user name and per client address in a sliding window.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from itsdangerous import BadSignature, URLSafeSerializer

from callback_desk.core.config import Secret

Role = Literal["therapist", "frontdesk", "admin"]
ROLES: tuple[Role, ...] = ("therapist", "frontdesk", "admin")
Purpose = Literal["session", "sign-in-link", "password-link"]


class BadToken(Exception):
    """The token is forged, tampered with, for another purpose or expired."""


class Passwords:
    def __init__(self, hasher: PasswordHasher | None = None) -> None:
        self._hasher = hasher or PasswordHasher()

    def hash(self, password: str) -> str:
        return self._hasher.hash(password)

    def verify(self, stored: str, password: str) -> bool:
        try:
            return self._hasher.verify(stored, password)
        except (VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, stored: str) -> bool:
        return self._hasher.check_needs_rehash(stored)


class Tokens:
    def __init__(self, secret: Secret) -> None:
        self._secret = secret

    def _serializer(self, purpose: Purpose) -> URLSafeSerializer:
        return URLSafeSerializer(self._secret.reveal(), salt=f"callback-desk {purpose}")

    def sign(self, purpose: Purpose, payload: Mapping[str, Any], expires: float) -> str:
        return str(self._serializer(purpose).dumps({**payload, "exp": int(expires)}))

    def open(self, purpose: Purpose, token: str, now: float) -> dict[str, Any]:
        try:
            payload = self._serializer(purpose).loads(token)
        except BadSignature as exc:
            raise BadToken("bad signature") from exc
        if not isinstance(payload, dict) or not isinstance(payload.get("exp"), int):
            raise BadToken("malformed")
        if payload["exp"] <= now:
            raise BadToken("expired")
        return payload

    def csrf(self, session_id: str) -> str:
        key = hashlib.sha256(b"callback-desk csrf " + self._secret.reveal().encode()).digest()
        return hmac.new(key, session_id.encode(), hashlib.sha256).hexdigest()

    def csrf_ok(self, session_id: str, token: str) -> bool:
        return bool(token) and hmac.compare_digest(self.csrf(session_id), token)


def new_id() -> str:
    """A random id for a session or a sign-in link (128 bits)."""
    return secrets.token_urlsafe(16)


@dataclass
class SignInLimit:
    """At most ``max_failures`` failed sign-ins per name, and 4x that per address, per window.

    In memory: one web process per practice. A restart forgets the counts, which an attacker
    cannot cause from outside.
    """

    max_failures: int
    window: float
    clock: Callable[[], float]

    def __post_init__(self) -> None:
        self._failures: dict[str, deque[float]] = {}

    def _recent(self, key: str) -> deque[float]:
        stamps = self._failures.setdefault(key, deque())
        cutoff = self.clock() - self.window
        while stamps and stamps[0] <= cutoff:
            stamps.popleft()
        if not stamps:
            del self._failures[key]
            return deque()
        return stamps

    def locked(self, username: str, address: str) -> bool:
        return (
            len(self._recent(f"u:{username}")) >= self.max_failures
            or len(self._recent(f"a:{address}")) >= 4 * self.max_failures
        )

    def failed(self, username: str, address: str) -> None:
        now = self.clock()
        if len(self._failures) > _MAX_KEYS:
            # Many names guessed from many addresses: forget what is out of the window.
            for key in list(self._failures):
                self._recent(key)
        for key in (f"u:{username}", f"a:{address}"):
            self._failures.setdefault(key, deque()).append(now)


_MAX_KEYS = 10_000


_BROWSERS = (
    ("Edg/", "Edge"),
    ("Firefox/", "Firefox"),
    ("Chrome/", "Chrome"),
    ("Safari/", "Safari"),
)
_SYSTEMS = (
    ("Android", "Android"),
    ("iPhone", "iPhone"),
    ("iPad", "iPad"),
    ("Windows", "Windows"),
    ("Mac OS X", "macOS"),
    ("Linux", "Linux"),
)


def agent_class(user_agent: str) -> str:
    """What kind of browser, as a person recognises it on an admin page ("Firefox on Windows");
    never the raw header, which a client makes up and which can single a person out."""
    browser = next((name for mark, name in _BROWSERS if mark in user_agent), "a browser")
    system = next((name for mark, name in _SYSTEMS if mark in user_agent), "")
    return f"{browser} on {system}" if system else browser
