"""The pages: the inbox in pages (and its live list), a caller's history, the week."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from agi.policy import authorize
from agi.queries import MissedCall
from callback_desk.core.exceptions import CallbackError
from callback_desk.core.scope import ALL_LINES
from callback_desk.report import query
from callback_desk.report.command import ReportOptions, window
from callback_desk.report.model import ReportCaller
from callback_desk.web.store import User
from callback_desk.web.views.base import DONE, UNDO_WINDOW, Views, call_id

logger = logging.getLogger(__name__)

# How often an open event stream reads its session again: a signed-out, disabled or idle
# session's stream ends within this long (one indexed row read per stream per interval).
SESSION_CHECK_SECONDS = 3.0
# Callers per page of the inbox: a front desk hearing every line of a hosted PBX may have
# thousands waiting, and no page should carry them all.
PAGE_SIZE = 50
# The most digits a search keeps (E.164 numbers have at most 15).
_MAX_DIGITS = 15


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
        raw = page if isinstance(page, str) else ""
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


class CallerViews(Views):
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

    def _desks(self, user: User, callers: list[ReportCaller]) -> dict[int, list[str]]:
        """For each caller card, the person's desk phones that may call it back: the one
        callback policy (agi.policy.authorize) that click-to-call applies when the button is
        pressed, asked before it is shown (no button that can only answer "cannot be called")."""
        now = datetime.now(UTC)
        allowed: dict[int, list[str]] = {}
        for c in callers:
            call = MissedCall(
                id=c.last_call_id,
                number=c.number,
                number_key=c.number_key,
                callable=c.callable,
                did=c.did,
                extensions=tuple(c.extensions),
                started_at=c.last_at,
                returned_at=None,  # the list holds callers awaiting a callback only
            )
            desks = []
            for extension in user.extensions:
                try:
                    authorize(call, call.id, extension, self.agi, now)
                except CallbackError:
                    continue
                desks.append(extension)
            allowed[c.last_call_id] = desks
        return allowed

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
        # Two connections of the pool at once: the undo list does not wait for the page's read.
        listing, undoable = await asyncio.gather(
            self._listing(user, wanted), self.users.undoable(user.username, UNDO_WINDOW)
        )
        return self.page(
            request,
            "inbox.html",
            user=user,
            listing=listing,
            desks=self._desks(user, listing.callers),
            opening=self._opening(user),
            done=done,
            days=self.lookback.days,
            typed=wanted.typed,
            undoable=undoable,
            undo_minutes=UNDO_WINDOW.seconds // 60,
        )

    async def inbox_list(self, request: Request, user: User) -> Response:
        """The list alone, for the page's live update: ``GET`` with ``?page=N``, or ``POST``
        with the search's form (digits and page in the body)."""
        if request.method == "POST":
            form = await self.form(request)
            wanted = Wanted.of(form.get("page"), form.get("digits"))
        else:
            wanted = Wanted.of(request.query_params.get("page"))
        listing = await self._listing(user, wanted)
        return self.page(
            request,
            "callers.html",
            user=user,
            listing=listing,
            desks=self._desks(user, listing.callers),
            opening=self._opening(user),
        )

    async def events(self, request: Request, user: User) -> Response:
        """Server-sent events: "changed" when the inbox may have changed; "signed-out" (then the
        end of the stream) once this session has ended, been signed out anywhere, or gone idle.
        The session is read again every :data:`SESSION_CHECK_SECONDS`."""
        session = self._session(request)

        async def stream() -> AsyncIterator[str]:
            with self.changes.subscribe() as queue:
                yield "retry: 1000\n\n"
                loop = asyncio.get_running_loop()
                check_at = loop.time() + SESSION_CHECK_SECONDS
                while True:
                    changed = False
                    try:
                        async with asyncio.timeout(max(0.0, check_at - loop.time())):
                            await queue.get()
                            changed = True
                    except TimeoutError:
                        pass
                    if loop.time() >= check_at:
                        if await self._user(session, active=False) is None:
                            logger.info(
                                "Closed the event stream of user %s: the session ended",
                                user.username,
                                extra={"action": "web_stream_signed_out"},
                            )
                            yield "event: signed-out\ndata: \n\n"
                            return
                        check_at = loop.time() + SESSION_CHECK_SECONDS
                        # Also a keep-alive: proxies close a stream that stays silent.
                        yield ": alive\n\n"
                    if changed:
                        yield "event: changed\ndata: inbox\n\n"

        return StreamingResponse(stream(), media_type="text/event-stream")

    async def history(self, request: Request, user: User) -> Response:
        call = await self.caller(user, call_id(request))
        history = await self.users.history(call.id, self.viewer(user))
        return self.page(request, "caller.html", user=user, call=call, history=history)

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
