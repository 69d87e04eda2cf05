"""What every view of the inbox stands on: its dependencies, sessions, and the guards.

Every page but sign-in is behind :meth:`Views.signed_in`; every POST goes through
:meth:`Views.form`, which refuses a missing or wrong CSRF token before anything else happens.
A caller outside the person's lines is the same 404 as an id that is no missed call, with a log
line and an audit row, whatever the path (:meth:`Views.caller`): the answer does not tell which
ids are missed calls on other lines.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from agi.clicktocall import Originated
from agi.config import AgiSettings
from agi.config import load as load_agi
from agi.queries import Callbacks, MissedCall
from callback_desk.core.config import Settings
from callback_desk.core.scope import ALL_LINES
from callback_desk.core.shown import line_of, number_of
from callback_desk.core.store import Store
from callback_desk.report import heatmap
from callback_desk.report.model import e164, how
from callback_desk.report.render_text import clean, duration, when
from callback_desk.report.settings import ReportSettings, report_settings
from callback_desk.web.auth import (
    BadToken,
    Passwords,
    Purpose,
    SignInLimit,
    Tokens,
    agent_class,
    new_id,
)
from callback_desk.web.live import Changes
from callback_desk.web.middleware import route_template
from callback_desk.web.settings import WebSettings
from callback_desk.web.settings import load as load_web
from callback_desk.web.store import EVERYONE, User, Viewer, WebStore

logger = logging.getLogger(__name__)

WEB = Path(__file__).resolve().parent.parent  # templates/
# __Host-: the browser accepts it only Secure, for this host alone, on path / (no subdomain
# or sibling site can set or shadow it).
SESSION_COOKIE = "__Host-cbd_session"
# Sent by inbox.js on the live list's own re-reads: they do not keep an idle session alive.
LIVE_HEADER = "x-live"
# What a redirect after an action may say; the query string carries only these codes.
DONE = {
    "ringing": "Your desk phone answered: the call to the caller is on its way.",
    "handled": "Marked as handled.",
    "never": "Marked as never call back.",
    "signed-out": "Signed out.",
    "undone": "Undone: the caller is back on the list (unless someone resolved them meanwhile).",
}
# How long a person may undo their own Handled or Never (the database allows 15 minutes at most:
# web_undo_disposition(), sql/0012_admin.sql).
UNDO_WINDOW = timedelta(minutes=5)

Dial = Callable[[Settings, int, str], Awaitable[Originated]]
Handler = Callable[[Request], Awaitable[Response]]


class Refused(Exception):
    """A request the person may not make: rendered as a short page with this status
    (``message.html``, or a page of its own with more to say)."""

    def __init__(
        self, status: int, message: str, template: str = "message.html", **context: Any
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.template = template
        self.context = context


@dataclass(frozen=True)
class Session:
    sid: str
    user_id: int | None
    issued_at: float


class Views:
    """The dependencies and guards every view uses; one instance per application (the views
    of ``callback_desk/web/views/`` are its subclasses, joined in
    ``callback_desk.web.app.Inbox``)."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        *,
        passwords: Passwords | None = None,
        clock: Callable[[], float] = time.time,
        dial: Dial | None = None,
    ) -> None:
        self.settings = settings
        self.ws: WebSettings = load_web(settings)
        self.agi: AgiSettings = load_agi(settings)
        self.rs: ReportSettings = report_settings(settings)
        self.lookback = timedelta(days=settings.awaiting.lookback_days)
        self.store = store
        self.users = WebStore(store.pool)
        self.callbacks = Callbacks(store.pool)
        self.tokens = Tokens(self.ws.require_secret())
        self.passwords = passwords or Passwords()
        self.clock = clock
        self.limit = SignInLimit(self.ws.max_failures, self.ws.lockout_minutes * 60.0, clock)
        self.changes = Changes(settings.database.dsn)
        self._dial = dial
        # Verified against for an unknown user name, so timing does not tell which names exist.
        self._dummy_hash = self.passwords.hash(new_id())
        self._forwarding_noted = False  # said once per process (SignInViews._note_forwarding)
        self.templates = Environment(
            loader=FileSystemLoader(WEB / "templates"),
            autoescape=select_autoescape(default=True, default_for_string=True),
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.templates.globals.update(
            number=lambda c: number_of(c, settings.pbx.country),
            dialable=e164,
            lines=line_of,
            how=how,
            clean=clean,
            when=lambda moment: when(moment, self.rs.timezone),
            duration=duration,
            day_names=heatmap.DAY_NAMES,
            level=heatmap.level,
        )

    # -- sessions and guards ---------------------------------------------------------------

    def _session(self, request: Request) -> Session | None:
        token = request.cookies.get(SESSION_COOKIE, "")
        if not token:
            return None
        try:
            payload = self.tokens.open("session", token, self.clock())
        except BadToken:
            return None
        sid, uid, iat = payload.get("s"), payload.get("u"), payload.get("iat")
        if not isinstance(sid, str) or not isinstance(iat, int | float):
            return None
        return Session(sid, uid if isinstance(uid, int) else None, float(iat))

    def _set_session(self, response: Response) -> Session:
        """A new anonymous session cookie: it carries the sign-in form's CSRF token; nothing of
        it is stored."""
        session = Session(new_id(), None, self.clock())
        self._cookie(response, session, 3600)
        return session

    def _cookie(self, response: Response, session: Session, lifetime: float) -> None:
        token = self.tokens.sign(
            "session",
            {"s": session.sid, "u": session.user_id, "iat": session.issued_at},
            session.issued_at + lifetime,
        )
        response.set_cookie(
            SESSION_COOKIE,
            token,
            max_age=int(lifetime),
            path="/",
            secure=True,
            httponly=True,
            samesite="strict",
        )

    async def _start_session(self, request: Request, response: Response, user: User) -> bool:
        """Sign ``user`` in on this browser: a session row (sql/0010_sessions.sql), then its
        cookie. A user session this browser still held (someone else's, on a shared computer)
        is signed out first. False when the user was disabled meanwhile."""
        previous = self._session(request)
        if previous is not None and previous.user_id is not None:
            await self.users.sign_out_session(previous.sid)
        session = Session(new_id(), user.id, self.clock())
        agent = agent_class(request.headers.get("user-agent", ""))
        if not await self.users.start_session(session.sid, user.id, agent):
            return False
        # The cookie's own expiry is the absolute lifetime; the row decides the rest.
        self._cookie(response, session, self.ws.session_minutes * 60)
        return True

    async def _user(self, session: Session | None, *, active: bool = True) -> User | None:
        """The user of a live session: its row not ended, used within [web] idle_minutes, younger
        than session_minutes, the user enabled. ``active``: a person's request (counts as use)."""
        if session is None or session.user_id is None:
            return None
        user = await self.users.session_user(
            session.sid,
            timedelta(minutes=self.ws.idle_minutes),
            timedelta(minutes=self.ws.session_minutes),
            active=active,
        )
        if user is None or user.id != session.user_id:
            return None
        return user

    async def form(self, request: Request) -> FormData:
        """The POSTed form, once it is a form the inbox could have sent (:func:`read_form`) and
        its CSRF token matches this browser's session."""
        session = self._session(request)
        form = await read_form(request)
        token = form.get("csrf")
        if session is None and not secure_context(request):
            # The session cookie is Secure (and __Host-): a browser keeps it only for HTTPS or
            # this computer's own addresses, so over plain HTTP on a LAN name no form can ever
            # come back with it. Say so, instead of "this form has expired" forever.
            logger.warning(
                "Refused a POST to %s over plain HTTP: the browser kept no Secure cookie",
                template_of(request),
                extra={"action": "web_plain_http"},
            )
            raise Refused(
                400,
                "This page was opened over plain HTTP.",
                template="plain_http.html",
                public_url=self.ws.public_url,
                local_url=f"http://localhost:{self.ws.port}/",
            )
        if (
            session is None
            or not isinstance(token, str)
            or not self.tokens.csrf_ok(session.sid, token)
        ):
            logger.warning(
                "Refused a POST to %s: missing or wrong CSRF token",
                template_of(request),
                extra={"action": "web_csrf"},
            )
            raise Refused(403, "This form has expired. Go back, reload the page and try again.")
        return form

    def sid(self, request: Request) -> str:
        """The id of this browser's session, which the database's signed writes take to know
        who acts (sql/0011_signed_writes.sql, sql/0012_admin.sql); behind :meth:`signed_in`."""
        session = self._session(request)
        if session is None or session.user_id is None:
            raise Refused(401, "Please sign in.")
        return session.sid

    def link_of(self, request: Request, purpose: Purpose, gone: str) -> tuple[int, str]:
        """The user and link id a ``/link/`` or ``/password/`` token carries, if its signature,
        purpose and expiry hold; 403 with ``gone`` (logged) otherwise. Whether it is still
        unused is the database's to say when it is spent."""
        try:
            payload = self.tokens.open(purpose, request.path_params["token"], self.clock())
        except BadToken as exc:
            logger.warning("A %s was refused: %s", purpose, exc, extra={"action": "web_link_bad"})
            raise Refused(403, gone) from exc
        user_id, jti = payload.get("u"), payload.get("j")
        if not isinstance(user_id, int) or not isinstance(jti, str):
            raise Refused(403, "This link is not valid.")
        return user_id, jti

    def scope(self, user: User) -> tuple[str, ...]:
        """The lines a person's callers come in on: what their desk phones hear."""
        if user.sees_all_lines:
            return (ALL_LINES,)
        found: list[str] = []
        for ext in user.extensions:
            for line in self.agi.scope(ext):
                if line not in found:
                    found.append(line)
        return (ALL_LINES,) if ALL_LINES in found else tuple(found)

    def viewer(self, user: User) -> Viewer:
        """Whose eyes a caller's history is read with: everything for the front desk and admins,
        a therapist's lines and own rows for a therapist."""
        if user.sees_all_lines:
            return EVERYONE
        scope = self.scope(user)
        lines = None if ALL_LINES in scope else scope
        return Viewer(lines, user.extensions, user.username)

    async def caller(self, user: User, call_id: int) -> MissedCall:
        """The missed call, if this person may see it; otherwise the 404 of an id that is no
        missed call (a call on other lines is logged and audited as well)."""
        call = await self.callbacks.missed_call(call_id)
        if call is not None and not call.heard_by(self.scope(user)):
            logger.warning(
                "Refused user %s missed call %d: not on their lines",
                user.username,
                call_id,
                extra={"action": "web_out_of_scope"},
            )
            await self.users.audit(user.username, "refused", call_id, "not on their lines")
            call = None
        if call is None:
            raise Refused(404, "There is no such missed call.")
        return call

    def page(self, request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
        session = self._session(request)
        response = HTMLResponse("", status_code=status)
        if session is None:
            session = self._set_session(response)
        context.setdefault("user", None)
        body = self.templates.get_template(name).render(
            csrf=self.tokens.csrf(session.sid), **context
        )
        response.body = body.encode("utf-8")
        response.headers["content-length"] = str(len(response.body))
        return response

    def signed_in(
        self, handler: Callable[[Request, User], Awaitable[Response]], *, active: bool = True
    ) -> Handler:
        """``handler`` for the user of a live session only. ``active=False``: the route is the
        page's own machinery (the event stream), never a person's use of the session; the live
        list's re-reads say so with the ``X-Live`` header (inbox.js)."""

        async def guarded(request: Request) -> Response:
            used = active and LIVE_HEADER not in request.headers
            user = await self._user(self._session(request), active=used)
            if user is None:
                if request.method == "GET" and "text/html" in request.headers.get("accept", ""):
                    return RedirectResponse("/sign-in", status_code=303)
                raise Refused(401, "Please sign in.")
            return await handler(request, user)

        return guarded


# Where a browser keeps a Secure cookie over plain HTTP too: this computer (a secure context).
_LOCAL_NAMES = frozenset({"localhost", "127.0.0.1", "::1", "[::1]"})


def secure_context(request: Request) -> bool:
    """Whether the browser that sent ``request`` keeps Secure cookies for this address: HTTPS
    (as the TLS proxy in front says, X-Forwarded-Proto from a trusted proxy), or this computer."""
    host = (request.url.hostname or "").lower()
    return (
        request.url.scheme == "https"
        or host in _LOCAL_NAMES
        or host.endswith(".localhost")
        or host.startswith("127.")
    )


# The inbox's forms are small: three or four fields (nginx's sample allows 16 KiB too).
MAX_FORM_BYTES = 16 * 1024
MAX_FORM_FIELDS = 20
MAX_FIELD_CHARS = 1024
_FIELD_NAME = re.compile(r"[a-z_]{1,20}")


async def read_form(request: Request) -> FormData:
    """The urlencoded form of a POST, or a 400 (a 413 when too big) with one log line: only
    what the inbox's own pages send is read — URL-encoded, UTF-8, no NUL byte, at most
    ``MAX_FORM_FIELDS`` fields of ``MAX_FIELD_CHARS`` characters, ``MAX_FORM_BYTES`` in all.
    Anything else would reach PostgreSQL (which refuses a NUL) or a log as it came."""

    def refuse(why: str, status: int = 400) -> Refused:
        logger.warning(
            "Refused a POST to %s: %s", template_of(request), why, extra={"action": "web_bad_form"}
        )
        return Refused(
            status, "This form could not be read. Go back, reload the page and try again."
        )

    kind, _, params = request.headers.get("content-type", "").partition(";")
    charset = params.strip().lower().removeprefix("charset=").strip('"')
    # No type and no body: an empty form (whose missing CSRF token is then refused).
    empty = not kind.strip() and request.headers.get("content-length", "0") == "0"
    if not empty and kind.strip().lower() != "application/x-www-form-urlencoded":
        raise refuse("not a URL-encoded form")
    if params.strip() and charset != "utf-8":
        raise refuse("a form in another character set than UTF-8")
    declared = request.headers.get("content-length", "")
    if declared.isascii() and declared.isdigit() and int(declared) > MAX_FORM_BYTES:
        raise refuse(f"a body of over {MAX_FORM_BYTES // 1024} KiB", 413)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise refuse(f"a body of over {MAX_FORM_BYTES // 1024} KiB", 413)
    try:
        fields = parse_qsl(
            bytes(body).decode("utf-8"),
            keep_blank_values=True,
            encoding="utf-8",
            errors="strict",
            max_num_fields=MAX_FORM_FIELDS,
        )
    except UnicodeDecodeError:
        raise refuse("a form that is not UTF-8") from None
    except ValueError:
        raise refuse(f"more than {MAX_FORM_FIELDS} fields") from None
    for name, value in fields:
        shown = repr(name) if _FIELD_NAME.fullmatch(name) else "a field"
        if "\0" in name or "\0" in value:
            raise refuse(f"{shown} holds a NUL byte")
        if len(name) > MAX_FIELD_CHARS or len(value) > MAX_FIELD_CHARS:
            raise refuse(f"{shown} is longer than {MAX_FIELD_CHARS} characters")
    return FormData([(name, value) for name, value in fields])


def template_of(request: Request) -> str:
    return route_template(request.app, request.scope)


# Row ids are bigint: a larger id cannot be one, and PostgreSQL would refuse the parameter.
MAX_ID = 2**63 - 1


def row_id(request: Request, name: str, missing: str) -> int:
    """The row id ``name`` of the path (``{name:id}``: 1-19 ASCII digits); past a bigint it is
    the 404 of a row that does not exist (``missing``), with one log line."""
    value = request.path_params[name]
    assert isinstance(value, int)
    if value > MAX_ID:
        logger.warning(
            "Refused %s: the id is past the largest there can be",
            template_of(request),
            extra={"action": "web_bad_id"},
        )
        raise Refused(404, missing)
    return value


def call_id(request: Request) -> int:
    return row_id(request, "call_id", "There is no such missed call.")
