"""The inbox's own tables (users, sign-in links, audit) and the per-caller history.

Statements live in ``sql/queries_web.sql`` (names prefixed ``web_``); errors come out as our
exception tree through :func:`callback_desk.core.dberrors.mapped_errors`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

import asyncpg

from callback_desk.core.awaiting import values
from callback_desk.core.dberrors import mapped_errors
from callback_desk.core.exceptions import ConfigError
from callback_desk.core.sqlfiles import queries
from callback_desk.web.auth import Role


@dataclass(frozen=True, slots=True)
class User:
    id: int
    username: str
    email: str
    role: Role
    extensions: tuple[str, ...]
    password_hash: str
    disabled: bool
    password_changed_at: datetime

    @property
    def sees_all_lines(self) -> bool:
        """The front desk and admins answer for the whole practice."""
        return self.role in ("frontdesk", "admin")


# The audit action of a sign-in wait that started or grew (call_id NULL, username the name
# tried, digits masked; detail: the client and both waits). Read by ``sign_in_throttles``.
THROTTLED = "sign-in throttled"

# Why a session ended (web_sessions.ended_why, sql/0010_sessions.sql).
SessionEnd = Literal["signed-out", "everywhere", "password", "disabled", "idle", "expired"]


@dataclass(frozen=True, slots=True)
class SessionInfo:
    """One sign-in of a user, as an admin sees it (no id: the table keeps only its hash)."""

    created_at: datetime
    last_seen_at: datetime
    agent: str
    ended_at: datetime | None
    ended_why: SessionEnd | None


@dataclass(frozen=True, slots=True)
class Account:
    """A user as the admin pages list them."""

    user: User
    last_seen_at: datetime | None
    open_sessions: int


# What a change to a user came to (sql/0012_admin.sql): done, no such user, or refused because
# it would leave the practice without an enabled admin.
Changed = Literal["changed", "no-user", "last-admin"]


@dataclass(frozen=True, slots=True)
class Undoable:
    """A mark this person set that they may still undo."""

    id: int
    call_id: int
    disposition: str
    decided_at: datetime
    number: str
    number_key: str | None
    name: str


@dataclass(frozen=True, slots=True)
class HistoryCall:
    id: int
    number: str
    number_key: str | None
    name: str
    did: str
    rang: tuple[str, ...]
    extensions: tuple[str, ...]
    reason: str
    started_at: datetime
    ring_seconds: float
    reached_voicemail: bool
    returned_at: datetime | None
    returned_how: str | None
    # Returned by someone else's callback or decision, or a call on another line: all that a
    # therapist learns of it ("returned by a colleague").
    by_colleague: bool


@dataclass(frozen=True, slots=True)
class HistoryAttempt:
    call_id: int
    extension: str
    users: str
    started_at: datetime
    ended_at: datetime | None
    dial_status: str | None
    talk_seconds: int | None


@dataclass(frozen=True, slots=True)
class HistoryDisposition:
    call_id: int | None
    disposition: str
    extension: str
    decided_by: str
    decided_at: datetime


@dataclass(frozen=True, slots=True)
class AuditEntry:
    at: datetime
    username: str
    action: str
    detail: str


@dataclass(frozen=True, slots=True)
class Viewer:
    """Whose eyes a caller's history is read with: a therapist's lines (None: every line),
    desk phones and name; ``EVERYONE`` for the front desk and admins, who see every row."""

    lines: tuple[str, ...] | None
    desks: tuple[str, ...] | None
    username: str | None


EVERYONE = Viewer(None, None, None)


@dataclass(frozen=True, slots=True)
class History:
    calls: tuple[HistoryCall, ...]
    attempts: tuple[HistoryAttempt, ...]
    dispositions: tuple[HistoryDisposition, ...]
    audit: tuple[AuditEntry, ...]


def _user(r: Any) -> User:
    return User(
        id=r["id"],
        username=r["username"],
        email=r["email"],
        role=r["role"],
        extensions=tuple(r["extensions"]),
        password_hash=r["password_hash"],
        disabled=r["disabled"],
        password_changed_at=r["password_changed_at"],
    )


class WebStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool
        self._q = queries()

    async def add_user(
        self, username: str, email: str, role: Role, extensions: tuple[str, ...], hashed: str
    ) -> int:
        async with mapped_errors("adding a user"):
            try:
                user_id: int = await self._pool.fetchval(
                    self._q["web_user_add"], username, email, role, list(extensions), hashed
                )
            except asyncpg.UniqueViolationError as exc:
                raise ConfigError(f"user {username!r} already exists") from exc
        return user_id

    async def user_by_name(self, username: str) -> User | None:
        async with mapped_errors("reading a user"):
            r = await self._pool.fetchrow(self._q["web_user_by_name"], username)
        return None if r is None else _user(r)

    async def user_by_id(self, user_id: int) -> User | None:
        async with mapped_errors("reading a user"):
            r = await self._pool.fetchrow(self._q["web_user_by_id"], user_id)
        return None if r is None else _user(r)

    async def users(self) -> list[User]:
        async with mapped_errors("listing users"):
            rows = await self._pool.fetch(self._q["web_users"])
        return [_user(r) for r in rows]

    async def set_password(self, username: str, hashed: str) -> bool:
        async with mapped_errors("changing a password"):
            return (
                await self._pool.fetchval(self._q["web_user_passwd"], username, hashed) is not None
            )

    async def rehash(self, user_id: int, hashed: str) -> None:
        async with mapped_errors("upgrading a password hash"):
            await self._pool.execute(self._q["web_user_rehash"], user_id, hashed)

    async def set_disabled(self, username: str, disabled: bool) -> bool:
        async with mapped_errors("disabling a user"):
            found = await self._pool.fetchval(self._q["web_user_disable"], username, disabled)
        return found is not None

    # -- sessions (sql/0010_sessions.sql) -------------------------------------------------------

    async def start_session(self, sid: str, user_id: int, agent: str) -> bool:
        """Record a sign-in; False when the user is disabled or gone (no session then)."""
        async with mapped_errors("starting a session"):
            return bool(
                await self._pool.fetchval(self._q["web_session_start"], sid, user_id, agent)
            )

    async def session_user(
        self, sid: str, idle: timedelta, lifetime: timedelta, *, active: bool
    ) -> User | None:
        """The enabled user of session ``sid`` if it is alive: not ended, used within ``idle``,
        younger than ``lifetime``. ``active``: a person's request, which counts as use."""
        async with mapped_errors("checking a session"):
            r = await self._pool.fetchrow(self._q["web_session_user"], sid, idle, lifetime, active)
        return None if r is None else _user(r)

    async def sign_out_session(self, sid: str) -> bool:
        """End this one session (Sign out); False when it had ended already."""
        async with mapped_errors("signing out"):
            return bool(await self._pool.fetchval(self._q["web_session_sign_out"], sid))

    async def end_sessions(self, user_id: int, why: SessionEnd = "everywhere") -> int:
        """End every open session of the user ("sign out everywhere"); how many were open.
        Their open event streams close within seconds (``Views.events``); their cookies are
        refused from the next request on."""
        async with mapped_errors("ending a user's sessions"):
            ended: int = await self._pool.fetchval(self._q["web_sessions_end"], user_id, why)
        return ended

    async def sessions_of(self, user_id: int, limit: int = 20) -> list[SessionInfo]:
        """The user's latest sessions, newest first, open and ended."""
        async with mapped_errors("listing a user's sessions"):
            rows = await self._pool.fetch(self._q["web_sessions_of"], user_id, limit)
        return [SessionInfo(**dict(r)) for r in rows]

    async def issue_link(self, address: str, jti: str, expires_at: datetime) -> int | None:
        """Record sign-in link ``jti`` for the user the email to ``address`` is for; that user's
        id, or None when nobody there may have one (sql/0008_least_privilege.sql)."""
        async with mapped_errors("issuing a sign-in link"):
            user_id: int | None = await self._pool.fetchval(
                self._q["web_link_issue"], address, jti, expires_at
            )
        return user_id

    async def consume_link(self, jti: str) -> int | None:
        """The link's user, once; None when it was used already, expired or never issued."""
        async with mapped_errors("using a sign-in link"):
            user_id: int | None = await self._pool.fetchval(self._q["web_link_consume"], jti)
        return user_id

    async def audit(self, username: str, action: str, call_id: int | None, detail: str) -> None:
        async with mapped_errors("writing the audit log"):
            await self._pool.execute(self._q["web_audit"], username, action, call_id, detail)

    async def sign_in_throttles(self, limit: int = 50) -> list[AuditEntry]:
        """The latest sign-in waits the limit set (newest first), for an admin's eyes: who was
        tried, from which client, how long each waits (callback_desk.web.auth.SignInLimit)."""
        async with mapped_errors("reading the sign-in log"):
            rows = await self._pool.fetch(self._q["web_sign_in_throttles"], THROTTLED, limit)
        return [AuditEntry(**dict(r)) for r in rows]

    async def dispose(self, sid: str, call_id: int, disposition: str) -> bool:
        """Record a decision on missed call ``call_id``, signed by the database with the user of
        live session ``sid`` (sql/0011_signed_writes.sql); False when that session has ended or
        the call is gone."""
        async with mapped_errors("recording a disposition"):
            found = await self._pool.fetchval(self._q["web_dispose"], sid, call_id, disposition)
        return found is not None

    # -- the admin pages (sql/0012_admin.sql): the database acts for the admin of live session
    # ``sid`` only

    async def accounts(self) -> list[Account]:
        async with mapped_errors("listing users"):
            rows = await self._pool.fetch(self._q["web_admin_users"])
        return [Account(_user(r), r["last_seen_at"], r["open_sessions"]) for r in rows]

    async def admin_add_user(
        self,
        sid: str,
        username: str,
        email: str,
        role: Role,
        extensions: tuple[str, ...],
        hashed: str,
        jti: str,
        expires_at: datetime,
    ) -> int:
        """A new user and their one-time password link ``jti``; the user's id."""
        async with mapped_errors("adding a user"):
            try:
                user_id: int = await self._pool.fetchval(
                    self._q["web_admin_add_user"],
                    sid,
                    username,
                    email,
                    role,
                    list(extensions),
                    hashed,
                    jti,
                    expires_at,
                )
            except asyncpg.UniqueViolationError as exc:
                raise ConfigError(f"user {username!r} already exists") from exc
        return user_id

    async def admin_change_user(
        self, sid: str, user_id: int, role: Role, extensions: tuple[str, ...], email: str
    ) -> Changed:
        async with mapped_errors("changing a user"):
            done: Changed = await self._pool.fetchval(
                self._q["web_admin_change_user"], sid, user_id, role, list(extensions), email
            )
        return done

    async def admin_set_disabled(self, sid: str, user_id: int, disabled: bool) -> Changed:
        async with mapped_errors("disabling a user"):
            done: Changed = await self._pool.fetchval(
                self._q["web_admin_set_disabled"], sid, user_id, disabled
            )
        return done

    async def admin_password_link(
        self, sid: str, user_id: int, jti: str, expires_at: datetime
    ) -> bool:
        """Record password link ``jti`` for the user; False when they are gone or disabled."""
        async with mapped_errors("issuing a password link"):
            return bool(
                await self._pool.fetchval(
                    self._q["web_admin_password_link"], sid, user_id, jti, expires_at
                )
            )

    async def admin_sign_out(self, sid: str, user_id: int) -> int:
        """End every open session of the user; how many were open."""
        async with mapped_errors("signing a user out everywhere"):
            ended: int = await self._pool.fetchval(self._q["web_admin_sign_out"], sid, user_id)
        return ended

    async def use_password_link(self, jti: str, hashed: str) -> int | None:
        """Spend password link ``jti`` on a new password; its user, or None when it was used,
        expired, voided or never issued."""
        async with mapped_errors("setting a password"):
            user_id: int | None = await self._pool.fetchval(
                self._q["web_password_link_use"], jti, hashed
            )
        return user_id

    # -- undo (sql/0012_admin.sql) ---------------------------------------------------------------

    async def undoable(self, username: str, window: timedelta) -> list[Undoable]:
        async with mapped_errors("listing marks to undo"):
            rows = await self._pool.fetch(self._q["web_undoable"], username, window)
        return [Undoable(**dict(r)) for r in rows]

    async def undo(self, sid: str, disposition_id: int, window: timedelta) -> int | None:
        """Remove the mark if the user of live session ``sid`` set it within ``window``; the
        call it was on, or None (not theirs, too old, gone)."""
        async with mapped_errors("undoing a mark"):
            call: int | None = await self._pool.fetchval(
                self._q["web_undo_disposition"], sid, disposition_id, window
            )
        return call

    async def history(self, call_id: int, viewer: Viewer) -> History:
        """What ``viewer`` may see of the caller of missed call ``call_id``: the caller's missed
        calls on their lines, their own attempts, decisions and audit rows (sql/queries_web.sql)."""
        lines = None if viewer.lines is None else list(viewer.lines)
        desks = None if viewer.desks is None else list(viewer.desks)
        who = viewer.username
        async with mapped_errors("reading a caller's history"), self._pool.acquire() as conn:
            async with conn.transaction(isolation="repeatable_read", readonly=True):
                q = self._q
                calls = await conn.fetch(q["web_history_calls"], call_id, lines, desks, who)
                attempts = await conn.fetch(q["web_history_attempts"], call_id, desks, who)
                dispositions = await conn.fetch(q["web_history_dispositions"], call_id, desks, who)
                audit = await conn.fetch(q["web_history_audit"], call_id, who)
        return History(
            calls=tuple(HistoryCall(**values(r)) for r in calls),
            attempts=tuple(HistoryAttempt(**values(r, leave_out=("id",))) for r in attempts),
            dispositions=tuple(
                HistoryDisposition(**values(r, leave_out=("id",))) for r in dispositions
            ),
            audit=tuple(AuditEntry(**dict(r)) for r in audit),
        )
