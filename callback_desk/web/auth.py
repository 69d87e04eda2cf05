"""Who may do what, as pure logic: password hashes, signed tokens, CSRF and the sign-in limit.

- Passwords: argon2id (argon2-cffi's ``PasswordHasher``; its parameters travel in the hash, so
  raising them later rehashes on the next sign-in).
- Tokens (the session cookie and the morning email's sign-in link) are JSON signed with
  itsdangerous under a per-purpose salt, so a link can never be replayed as a cookie. Each carries
  its own ``exp``; the clock is passed in, so expiry is tested without waiting.
- CSRF: a token derived from the session's random id with HMAC. Every form carries it; every
  POST is refused without it (synchroniser token, no server-side state).
- The sign-in limit slows down failures per client and per account with growing waits; it
  never refuses the right password from a client that has not failed (:class:`SignInLimit`).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
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


@dataclass(frozen=True)
class Wait:
    """A sign-in attempt refused unchecked: this client may try again in ``seconds``.
    ``reason``: "client" (this client's own failures) or "account" (the account's failures,
    from every client, which hold back only clients that have failed)."""

    seconds: float
    reason: Literal["client", "account"]


@dataclass(frozen=True)
class Throttle:
    """What a failed sign-in set off, for the log and the audit: the client and the account
    each wait this long before a client that has failed may try the account again."""

    failures: tuple[int, int]  # the client's, the account's
    waits: tuple[float, float]  # seconds; 0: not held back
    report: bool  # a wait started or grew (or still holds at its longest): audit it


@dataclass
class _Tally:
    failures: int = 0
    last: float = 0.0  # when the latest failure (or attempt in flight) was counted
    reported: float = 0.0  # the wait last reported ...
    reported_at: float = 0.0  # ... and when


@dataclass
class SignInLimit:
    """Failed sign-ins slow the next ones down, per client and per account, never locking out.

    - A client (an IPv4 address, an IPv6 /64) gets ``free`` failures; from then on each
      further failure makes it wait before its next try: 1 s, 2 s, 4 s ... doubling up to
      ``longest``. A try during the wait is refused without the password being checked.
    - An account's failures from all clients together set its own wait, on the same curve.
      It holds back only clients that have failed (anywhere): a client with no failure on
      record always has its password checked, so an attacker hammering ``admin`` slows
      themselves, never the admin at another computer.
    - An attempt counts as a failure while its password is being checked, so a burst of
      concurrent tries cannot all pass before the first failure is counted.
    - A tally is forgotten ``longest`` after its wait ended.

    In memory: one web process per practice. A restart forgets the counts, which an attacker
    cannot cause from outside.
    """

    free: int
    longest: float
    clock: Callable[[], float]

    def __post_init__(self) -> None:
        self._tallies: dict[tuple[str, str], _Tally] = {}

    def delay(self, failures: int) -> float:
        """The wait after ``failures`` failures: none for the first ``free - 1``, then 1 s,
        doubling per failure, at most ``longest``."""
        if failures < self.free:
            return 0.0
        return min(self.longest, 2.0 ** min(failures - self.free, 62))

    def _tally(self, key: tuple[str, str]) -> _Tally | None:
        tally = self._tallies.get(key)
        if (
            tally is not None
            and self.clock() > tally.last + self.delay(tally.failures) + self.longest
        ):
            del self._tallies[key]
            return None
        return tally

    def _left(self, tally: _Tally | None) -> float:
        if tally is None:
            return 0.0
        return max(0.0, tally.last + self.delay(tally.failures) - self.clock())

    def wait(self, username: str, client: str) -> Wait | None:
        """Why this client may not try this account now, or None: check the password."""
        mine = self._tally(("client", client))
        if mine is None:
            return None  # never failed: always checked, whatever the account's tally
        left = self._left(mine)
        if left > 0:
            return Wait(left, "client")
        left = self._left(self._tally(("account", username)))
        if left > 0:
            return Wait(left, "account")
        return None

    def begin(self, username: str, client: str) -> None:
        """An attempt about to be checked: counted as a failure until :meth:`succeeded`."""
        now = self.clock()
        if len(self._tallies) > _MAX_KEYS:
            self._prune()
        for key in (("client", client), ("account", username)):
            tally = self._tally(key) or self._tallies.setdefault(key, _Tally())
            tally.failures += 1
            tally.last = now

    def succeeded(self, username: str, client: str) -> None:
        """The attempt begun was right (or never checked): it was not a failure."""
        for key in (("client", client), ("account", username)):
            tally = self._tallies.get(key)
            if tally is not None:
                tally.failures -= 1
                if tally.failures <= 0:
                    del self._tallies[key]

    def failed(self, username: str, client: str) -> Throttle:
        """The attempt begun was wrong: it stays counted; what it set off."""
        now = self.clock()
        tallies = [
            self._tallies.setdefault(key, _Tally(failures=1, last=now))
            for key in (("client", client), ("account", username))
        ]
        waits = [self.delay(t.failures) for t in tallies]
        report = False
        for tally, wait in zip(tallies, waits, strict=True):
            if wait > tally.reported or (wait and now - tally.reported_at >= self.longest):
                tally.reported, tally.reported_at = wait, now
                report = True
        return Throttle(
            failures=(tallies[0].failures, tallies[1].failures),
            waits=(waits[0], waits[1]),
            report=report,
        )

    def _prune(self) -> None:
        """Many names guessed from many clients: forget what is over, then the oldest."""
        for key in list(self._tallies):
            self._tally(key)
        excess = len(self._tallies) - _MAX_KEYS // 2
        if excess > 0:
            for key in sorted(self._tallies, key=lambda k: self._tallies[k].last)[:excess]:
                del self._tallies[key]


# Bounds the limit's memory: 10,000 tallies are about 2 MB.
_MAX_KEYS = 10_000


def client_key(host: str) -> str:
    """The client a sign-in limit counts: its IPv4 address, or its IPv6 /64 (one host is given
    a whole /64, and could otherwise try from 2^64 addresses)."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


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
