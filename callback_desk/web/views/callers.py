"""The pages: the inbox (and its live list), a caller's history, the week."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from agi.policy import authorize
from agi.queries import MissedCall
from callback_desk.core.exceptions import CallbackError
from callback_desk.core.scope import ALL_LINES, in_scope
from callback_desk.report import query
from callback_desk.report.command import ReportOptions, window
from callback_desk.report.model import ReportCaller
from callback_desk.web.store import User
from callback_desk.web.views.base import DONE, Views, call_id


class CallerViews(Views):
    # -- pages -----------------------------------------------------------------------------

    async def _callers(self, user: User) -> list[ReportCaller]:
        """The report's list with the report's defaults (the core's one definition of
        "awaiting", over ``[awaiting] lookback_days``), on this person's lines."""
        scope = self.scope(user)
        if not scope:
            return []
        now = datetime.fromtimestamp(self.clock(), self.rs.timezone)
        win = window(ReportOptions(), self.rs, now, self.lookback)
        async with query.reading(self.store) as conn:
            return await query.callers(conn, win.since, win.until, win.new_since, covers=scope)

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
        callers = await self._callers(user)
        done = DONE.get(request.query_params.get("done", ""), "")
        return self.page(
            request,
            "inbox.html",
            user=user,
            callers=callers,
            desks=self._desks(user, callers),
            opening=self._opening(user),
            done=done,
            days=self.lookback.days,
        )

    async def inbox_list(self, request: Request, user: User) -> Response:
        callers = await self._callers(user)
        return self.page(
            request,
            "callers.html",
            user=user,
            callers=callers,
            desks=self._desks(user, callers),
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
        call = await self.caller(user, call_id(request))
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
