"""The callback inbox as an ASGI application (Starlette): the route table, and what each page does.

Every page but sign-in is behind :meth:`Inbox.signed_in`; every POST goes through
:meth:`Inbox.form`, which refuses a missing or wrong CSRF token before anything else happens.
A caller outside the person's lines is a 403 and a log line, whatever the path. URLs carry only
call ids, never a number or a name; the access log writes the route's template, not the path.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.applications import Starlette
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Match, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from agi.clicktocall import Originated, originate
from agi.config import AgiSettings
from agi.config import load as load_agi
from agi.queries import Callbacks, MissedCall
from callback_desk.core.config import Settings
from callback_desk.core.exceptions import (
    AmiError,
    CallbackError,
    DeskUnavailable,
    NotAwaiting,
    NotCallable,
    OutOfScope,
    UnknownCall,
)
from callback_desk.core.model import Disposition
from callback_desk.core.phone import national_format
from callback_desk.core.scope import ALL_LINES, in_scope
from callback_desk.core.store import Store
from callback_desk.report import heatmap, query
from callback_desk.report.command import ReportOptions, window
from callback_desk.report.model import ReportCaller, display_number, e164, how, lines
from callback_desk.report.render_text import clean, duration, when
from callback_desk.report.settings import ReportSettings, report_settings
from callback_desk.web.auth import BadToken, Passwords, SignInLimit, Tokens, new_id
from callback_desk.web.live import Changes
from callback_desk.web.settings import WebSettings
from callback_desk.web.settings import load as load_web
from callback_desk.web.store import User, WebStore

logger = logging.getLogger(__name__)
access_log = logging.getLogger("callback_desk.web.access")

HERE = Path(__file__).resolve().parent
# __Host-: the browser accepts it only Secure, for this host alone, on path / (no subdomain
# or sibling site can set or shadow it).
SESSION_COOKIE = "__Host-cbd_session"
# Nothing from another host, no inline script or style, no framing, forms post only here.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS = (
    (b"cache-control", b"no-store"),
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
    (b"cross-origin-opener-policy", b"same-origin"),
)
# What a redirect after an action may say; the query string carries only these codes.
DONE = {
    "ringing": "Your desk phone answered: the call to the caller is on its way.",
    "handled": "Marked as handled.",
    "never": "Marked as never call back.",
    "signed-out": "Signed out.",
}

# Callers per page of the inbox: a front desk hearing every line of a hosted PBX may have
# thousands waiting, and no page should carry them all.
PAGE_SIZE = 50
# The most digits a search keeps (E.164 numbers have at most 15).
_MAX_DIGITS = 15

Dial = Callable[[Settings, int, str], Awaitable[Originated]]
Handler = Callable[[Request], Awaitable[Response]]


class Refused(Exception):
    """A request the person may not make: rendered as a short page with this status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class Wanted:
    """Which page of the inbox a request asks for, and the digits it searches by."""

    number: int = 1
    digits: str | None = None
    typed: str = ""  # what was typed in the search box, to show it back ("" when nothing)

    @classmethod
    def of(cls, page: object, typed: object = None) -> Wanted:
        """From a query or form value each; anything that is not a page number is page 1.
        The search keeps the digits typed (spaces, dashes and brackets are how people write
        numbers) and no more than a number has."""
        raw = str(page) if isinstance(page, str) else ""
        number = int(raw) if raw.isascii() and raw.isdigit() and 0 < len(raw) < 7 else 1
        text = typed[:64].strip() if isinstance(typed, str) else ""
        digits = "".join(ch for ch in text if ch.isascii() and ch.isdigit())[-_MAX_DIGITS:]
        return cls(max(number, 1), digits or None, text)


@dataclass(frozen=True)
class Listing:
    """What the list shows: a page of callers, how many there are, which page this is."""

    callers: list[ReportCaller]
    total: int
    number: int
    digits: str | None
    size: int = PAGE_SIZE

    @property
    def first(self) -> int:
        return (self.number - 1) * self.size + 1 if self.callers else 0

    @property
    def last(self) -> int:
        return self.first + len(self.callers) - 1 if self.callers else 0

    @property
    def pages(self) -> int:
        return max((self.total - 1) // self.size + 1, 1)


@dataclass(frozen=True)
class Session:
    sid: str
    user_id: int | None
    issued_at: float


def issue_sign_in_link(
    tokens: Tokens, ws: WebSettings, user_id: int, now: float
) -> tuple[str, str, datetime]:
    """(url, link id, expiry) for a single-use sign-in link; the caller records the id."""
    jti = new_id()
    expires = now + ws.link_hours * 3600
    token = tokens.sign("sign-in-link", {"u": user_id, "j": jti}, expires)
    return f"{ws.public_url}/link/{token}", jti, datetime.fromtimestamp(expires, UTC)


async def sign_in_link(store: Store, settings: Settings, address: str) -> str | None:
    """The morning email's link for the user with this address (None: no such user, or no web)."""
    ws = load_web(settings)
    if ws.secret is None:
        return None  # no inbox configured
    users = WebStore(store.pool)
    user = await users.user_by_email(address)
    if user is None:
        return None
    url, jti, expires = issue_sign_in_link(Tokens(ws.secret), ws, user.id, time.time())
    await users.issue_link(jti, user.id, expires)
    return url


class Inbox:
    """The pages and actions; one instance per application, holding its dependencies."""

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
        self.templates = Environment(
            loader=FileSystemLoader(HERE / "templates"),
            autoescape=select_autoescape(default=True, default_for_string=True),
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.templates.globals.update(
            number=lambda c: display_number(c, settings.pbx.country),
            dialable=e164,
            lines=lines,
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

    def _set_session(self, response: Response, user_id: int | None) -> Session:
        now = self.clock()
        session = Session(new_id(), user_id, now)
        lifetime = self.ws.session_minutes * 60 if user_id is not None else 3600
        token = self.tokens.sign(
            "session", {"s": session.sid, "u": user_id, "iat": now}, now + lifetime
        )
        response.set_cookie(
            SESSION_COOKIE,
            token,
            max_age=lifetime,
            path="/",
            secure=True,
            httponly=True,
            samesite="strict",
        )
        return session

    async def _user(self, session: Session | None) -> User | None:
        if session is None or session.user_id is None:
            return None
        user = await self.users.user_by_id(session.user_id)
        if user is None or user.disabled:
            return None
        # A password change signs out every session issued before it.
        if session.issued_at < user.password_changed_at.timestamp():
            return None
        return user

    async def form(self, request: Request) -> FormData:
        """The POSTed form, once its CSRF token matches this browser's session."""
        session = self._session(request)
        form = await request.form()
        token = form.get("csrf")
        if (
            session is None
            or not isinstance(token, str)
            or not self.tokens.csrf_ok(session.sid, token)
        ):
            logger.warning(
                "Refused a POST to %s: missing or wrong CSRF token",
                _template(request),
                extra={"action": "web_csrf"},
            )
            raise Refused(403, "This form has expired. Go back, reload the page and try again.")
        return form

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

    async def caller(self, user: User, call_id: int) -> MissedCall:
        """The missed call, if this person may see it; 404 or 403 (logged) otherwise."""
        call = await self.callbacks.missed_call(call_id)
        if call is None:
            raise Refused(404, "There is no such missed call.")
        if not call.heard_by(self.scope(user)):
            logger.warning(
                "Refused user %s missed call %d: not on their lines",
                user.username,
                call_id,
                extra={"action": "web_out_of_scope"},
            )
            await self.users.audit(user.username, "refused", call_id, "not on their lines")
            raise Refused(403, "That caller is not on your lines.")
        return call

    def page(self, request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
        session = self._session(request)
        response = HTMLResponse("", status_code=status)
        if session is None:
            session = self._set_session(response, None)
        context.setdefault("user", None)
        body = self.templates.get_template(name).render(
            csrf=self.tokens.csrf(session.sid), **context
        )
        response.body = body.encode("utf-8")
        response.headers["content-length"] = str(len(response.body))
        return response

    def signed_in(self, handler: Callable[[Request, User], Awaitable[Response]]) -> Handler:
        async def guarded(request: Request) -> Response:
            user = await self._user(self._session(request))
            if user is None:
                if request.method == "GET" and "text/html" in request.headers.get("accept", ""):
                    return RedirectResponse("/sign-in", status_code=303)
                raise Refused(401, "Please sign in.")
            return await handler(request, user)

        return guarded

    # -- pages -----------------------------------------------------------------------------

    async def _listing(self, user: User, wanted: Wanted) -> Listing:
        """One page of the report's list with the report's defaults (the core's one definition
        of "awaiting", over ``[awaiting] lookback_days``), on this person's lines, most urgent
        first. A page past the end (callers returned meanwhile) shows the last one."""
        scope = self.scope(user)
        if not scope:
            return Listing([], 0, 1, wanted.digits)
        now = datetime.fromtimestamp(self.clock(), self.rs.timezone)
        win = window(ReportOptions(), self.rs, now, self.lookback)
        number = wanted.number
        async with query.reading(self.store) as conn:
            while True:
                callers, total = await query.callers_page(
                    conn,
                    win.since,
                    win.until,
                    win.new_since,
                    covers=scope,
                    digits=wanted.digits,
                    size=PAGE_SIZE,
                    offset=(number - 1) * PAGE_SIZE,
                )
                if callers or total == 0 or number == 1:
                    return Listing(callers, total, number, wanted.digits)
                number = (total - 1) // PAGE_SIZE + 1

    def _opening(self, user: User) -> str:
        return self.agi.opening_line(user.extensions[0] if user.extensions else "")

    async def inbox(self, request: Request, user: User) -> Response:
        """``GET /``: the first page, or ``?page=N`` (page numbers are not sensitive)."""
        return await self._inbox(request, user, Wanted.of(request.query_params.get("page")))

    async def search(self, request: Request, user: User) -> Response:
        """``POST /``: callers by the last digits of their number, or another page of them.
        The digits come in the form body, never in the URL (nor in the access log)."""
        form = await self.form(request)
        return await self._inbox(request, user, Wanted.of(form.get("page"), form.get("digits")))

    async def _inbox(self, request: Request, user: User, wanted: Wanted) -> Response:
        done = DONE.get(request.query_params.get("done", ""), "")
        return self.page(
            request,
            "inbox.html",
            user=user,
            listing=await self._listing(user, wanted),
            opening=self._opening(user),
            done=done,
            days=self.lookback.days,
            typed=wanted.typed,
        )

    async def inbox_list(self, request: Request, user: User) -> Response:
        """The list alone, for the page's live update: ``GET`` with ``?page=N``, or ``POST``
        with the search's form (digits and page in the body)."""
        if request.method == "POST":
            form = await self.form(request)
            wanted = Wanted.of(form.get("page"), form.get("digits"))
        else:
            wanted = Wanted.of(request.query_params.get("page"))
        return self.page(
            request,
            "callers.html",
            user=user,
            listing=await self._listing(user, wanted),
            opening=self._opening(user),
        )

    async def events(self, request: Request, user: User) -> Response:
        async def stream() -> AsyncIterator[str]:
            with self.changes.subscribe() as queue:
                yield "retry: 1000\n\n"
                while True:
                    try:
                        async with asyncio.timeout(15):
                            await queue.get()
                    except TimeoutError:
                        yield ": keep-alive\n\n"
                        continue
                    yield "event: changed\ndata: inbox\n\n"

        return StreamingResponse(stream(), media_type="text/event-stream")

    async def history(self, request: Request, user: User) -> Response:
        call = await self.caller(user, _call_id(request))
        history = await self.users.history(call.id)
        scope = self.scope(user)
        # Missed calls to someone else's lines stay out of a therapist's view of the caller.
        calls = [
            c for c in history.calls if c.id == call.id or in_scope(scope, c.did, c.extensions)
        ]
        return self.page(request, "caller.html", user=user, call=call, history=history, calls=calls)

    async def week(self, request: Request, user: User) -> Response:
        scope = self.scope(user)
        now = datetime.fromtimestamp(self.clock(), UTC)
        covers = () if ALL_LINES in scope else scope
        stats = None
        if scope:
            async with query.reading(self.store) as conn:
                stats = await query.week(conn, now, self.rs.week_days, self.rs.timezone, covers)
        peak = max((max(row) for row in stats.grid), default=0) if stats else 0
        return self.page(
            request, "week.html", user=user, week=stats, peak=peak, tz=self.rs.timezone.key
        )

    # -- actions ---------------------------------------------------------------------------

    async def call(self, request: Request, user: User) -> Response:
        form = await self.form(request)
        call = await self.caller(user, _call_id(request))
        extension = str(form.get("extension") or (user.extensions[0] if user.extensions else ""))
        if extension not in user.extensions:
            raise Refused(403, "That is not one of your desk phones.")
        dial = self._dial or (lambda s, cid, ext: originate(s, cid, ext, callbacks=self.callbacks))
        try:
            done = await dial(self.settings, call.id, extension)
        except (UnknownCall, OutOfScope) as exc:
            await self.users.audit(user.username, "call refused", call.id, str(exc))
            raise Refused(403, "Your desk phone may not call this caller back.") from exc
        except DeskUnavailable as exc:
            await self.users.audit(user.username, "call: desk did not answer", call.id, str(exc))
            raise Refused(409, f"Nothing was dialled: {exc}.") from exc
        except NotAwaiting as exc:
            raise Refused(
                409,
                "Nothing was dialled: this caller is no longer awaiting a callback "
                "(someone returned the call or marked it).",
            ) from exc
        except NotCallable as exc:
            raise Refused(409, "This number cannot be called back from the desk.") from exc
        except (AmiError, CallbackError) as exc:
            logger.error("Click-to-call failed: %s", exc, extra={"action": "web_call_failed"})
            raise Refused(
                502, "The phone system did not take the call. Try the desk phone's menu."
            ) from exc
        await self.users.audit(user.username, "call", call.id, f"desk {done.extension}")
        return RedirectResponse("/?done=ringing", status_code=303)

    async def handled(self, request: Request, user: User) -> Response:
        return await self._dispose(request, user, Disposition.HANDLED)

    async def confirm_never(self, request: Request, user: User) -> Response:
        call = await self.caller(user, _call_id(request))
        shown = national_format(call.number_key, call.number, self.settings.pbx.country)
        return self.page(
            request, "never.html", user=user, call=call, number=shown if call.number_key else ""
        )

    async def never(self, request: Request, user: User) -> Response:
        return await self._dispose(request, user, Disposition.NEVER)

    async def _dispose(self, request: Request, user: User, disposition: Disposition) -> Response:
        await self.form(request)
        call = await self.caller(user, _call_id(request))
        extension = user.extensions[0] if user.extensions else ""
        await self.users.dispose(call.id, call.number_key, disposition, extension, user.username)
        await self.users.audit(user.username, disposition, call.id, "")
        return RedirectResponse(f"/?done={disposition}", status_code=303)

    # -- signing in and out ----------------------------------------------------------------

    async def sign_in_page(self, request: Request) -> Response:
        return self.page(request, "sign_in.html", error="")

    async def sign_in(self, request: Request) -> Response:
        form = await self.form(request)
        username = str(form.get("username", "")).strip().lower()[:40]
        password = str(form.get("password", ""))
        address = request.client.host if request.client else "?"
        if self.limit.locked(username, address):
            logger.warning(
                "Sign-in refused for %r: too many failures",
                username,
                extra={"action": "web_locked"},
            )
            return self.page(
                request,
                "sign_in.html",
                status=429,
                error="Too many failed attempts. Wait a few minutes, then try again.",
            )
        user = await self.users.user_by_name(username) if username else None
        stored = user.password_hash if user is not None else self._dummy_hash
        # argon2 takes ~0.3 s and 64 MiB on purpose: in a thread, so live pages keep flowing.
        verified = await asyncio.to_thread(self.passwords.verify, stored, password)
        ok = verified and user is not None and not user.disabled
        if not ok or user is None:
            self.limit.failed(username, address)
            logger.warning(
                "Sign-in failed for %r", username, extra={"action": "web_sign_in_failed"}
            )
            return self.page(
                request, "sign_in.html", status=401, error="Wrong user name or password."
            )
        if self.passwords.needs_rehash(user.password_hash):
            rehashed = await asyncio.to_thread(self.passwords.hash, password)
            await self.users.rehash(user.id, rehashed)
        logger.info("User %s signed in", user.username, extra={"action": "web_sign_in"})
        response = RedirectResponse("/", status_code=303)
        self._set_session(response, user.id)
        return response

    async def sign_out(self, request: Request) -> Response:
        await self.form(request)
        response = RedirectResponse("/sign-in?done=signed-out", status_code=303)
        response.delete_cookie(
            SESSION_COOKIE, path="/", secure=True, httponly=True, samesite="strict"
        )
        return response

    async def link_page(self, request: Request) -> Response:
        # A GET never signs anyone in: mail scanners fetch links; only the button's POST acts.
        self._link(request)
        return self.page(request, "link.html")

    async def link_use(self, request: Request) -> Response:
        await self.form(request)
        user_id, jti = self._link(request)
        consumed = await self.users.consume_link(jti)
        user = await self.users.user_by_id(user_id) if consumed == user_id else None
        if user is None or user.disabled:
            logger.warning(
                "Sign-in link refused: used already or revoked",
                extra={"action": "web_link_replayed"},
            )
            raise Refused(
                403, "This sign-in link has been used already. Sign in with your password."
            )
        logger.info(
            "User %s signed in with an email link", user.username, extra={"action": "web_sign_in"}
        )
        response = RedirectResponse("/", status_code=303)
        self._set_session(response, user.id)
        return response

    def _link(self, request: Request) -> tuple[int, str]:
        try:
            payload = self.tokens.open("sign-in-link", request.path_params["token"], self.clock())
        except BadToken as exc:
            logger.warning("Sign-in link refused: %s", exc, extra={"action": "web_link_bad"})
            raise Refused(
                403, "This sign-in link is not valid any more. Sign in with your password."
            ) from exc
        user_id, jti = payload.get("u"), payload.get("j")
        if not isinstance(user_id, int) or not isinstance(jti, str):
            raise Refused(403, "This sign-in link is not valid.")
        return user_id, jti

    # -- the application -------------------------------------------------------------------

    def routes(self) -> list[Route | Mount]:
        return [
            Route("/", self.signed_in(self.inbox)),
            Route("/", self.signed_in(self.search), methods=["POST"]),
            Route("/inbox/list", self.signed_in(self.inbox_list), methods=["GET", "POST"]),
            Route("/events", self.signed_in(self.events)),
            Route("/week", self.signed_in(self.week)),
            Route("/callers/{call_id:int}", self.signed_in(self.history)),
            Route("/callers/{call_id:int}/call", self.signed_in(self.call), methods=["POST"]),
            Route(
                "/callers/{call_id:int}/handled",
                self.signed_in(self.handled),
                methods=["POST"],
            ),
            Route("/callers/{call_id:int}/never", self.signed_in(self.confirm_never)),
            Route("/callers/{call_id:int}/never", self.signed_in(self.never), methods=["POST"]),
            Route("/sign-in", self.sign_in_page),
            Route("/sign-in", self.sign_in, methods=["POST"]),
            Route("/sign-out", self.sign_out, methods=["POST"]),
            Route("/link/{token}", self.link_page),
            Route("/link/{token}", self.link_use, methods=["POST"]),
            Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
        ]

    def app(self) -> ASGIApp:
        @asynccontextmanager
        async def lifespan(_app: Starlette) -> AsyncIterator[None]:
            await self.changes.start()
            try:
                yield
            finally:
                await self.changes.stop()

        async def refused(request: Request, exc: Exception) -> Response:
            assert isinstance(exc, Refused)
            return self.page(request, "message.html", status=exc.status, message=exc.message)

        async def not_found(request: Request, _exc: Exception) -> Response:
            return self.page(request, "message.html", status=404, message="There is no such page.")

        starlette = Starlette(
            routes=self.routes(),
            lifespan=lifespan,
            exception_handlers={Refused: refused, 404: not_found, 405: not_found},
        )
        return Guard(starlette)


class Guard:
    """Security headers on every response, and an access log without paths' values."""

    def __init__(self, app: Starlette) -> None:
        self.app = app

    @property
    def state(self) -> Any:
        return self.app.state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 0
        # Matched before the app runs: routing adds its own keys to the scope.
        route = _route_template(self.app, dict(scope))

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [
                    (k, v) for k, v in message.get("headers", []) if k.lower() not in _REPLACED
                ]
                message = {**message, "headers": [*headers, *SECURITY_HEADERS]}
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        finally:
            access_log.info(
                "%s %s %s",
                scope["method"],
                route,
                status,
                extra={"action": "web_access"},
            )


_REPLACED = {name for name, _ in SECURITY_HEADERS}


def _route_template(app: Starlette, scope: Scope) -> str:
    for route in app.routes:
        match, _ = route.matches(scope)
        if match == Match.FULL:
            return getattr(route, "path", "?")
    return "(no route)"


def _template(request: Request) -> str:
    return _route_template(request.app, request.scope)


def _call_id(request: Request) -> int:
    value = request.path_params["call_id"]
    assert isinstance(value, int)
    return value


def create_app(
    settings: Settings,
    store: Store,
    *,
    passwords: Passwords | None = None,
    clock: Callable[[], float] = time.time,
    dial: Dial | None = None,
) -> ASGIApp:
    return Inbox(settings, store, passwords=passwords, clock=clock, dial=dial).app()
