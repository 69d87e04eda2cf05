"""The callback inbox as an ASGI application (Starlette): the route table and the factory.

What each page and action does is in ``views/`` (``callers.py`` the pages, ``actions.py`` what
a person does to a caller, ``signin.py`` signing in and out, ``admin.py`` the admin pages), on
the dependencies and guards of ``views/base.py``; what wraps every response is
``middleware.py``. URLs carry only call ids, never a number or a name; the access log writes
the route's template, not the path.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from starlette.applications import Starlette
from starlette.convertors import Convertor, register_url_convertor
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp

from callback_desk.core.config import Settings
from callback_desk.core.store import Store
from callback_desk.web.auth import Passwords
from callback_desk.web.middleware import Guard
from callback_desk.web.views.actions import ActionViews
from callback_desk.web.views.admin import AdminViews
from callback_desk.web.views.base import Dial, Refused
from callback_desk.web.views.callers import CallerViews
from callback_desk.web.views.signin import SignInViews

HERE = Path(__file__).resolve().parent


class RowId(Convertor[int]):
    """A row id in a path: 1-19 ASCII digits (a bigint has 19 at most). Starlette's ``int``
    takes any number of digits, and Python's int() raises on more than 4,300: a 500."""

    regex = "[0-9]{1,19}"

    def convert(self, value: str) -> int:
        return int(value)

    def to_string(self, value: int) -> str:
        return str(value)


# Starlette's one way to name a convertor is its registry; "id" is ours alone.
register_url_convertor("id", RowId())


class Inbox(CallerViews, ActionViews, AdminViews, SignInViews):
    """Every view of the inbox over one set of dependencies (``views/base.py``)."""


def routes(inbox: Inbox) -> list[Route | Mount]:
    signed_in = inbox.signed_in
    return [
        Route("/", signed_in(inbox.inbox)),
        Route("/", signed_in(inbox.search), methods=["POST"]),
        Route("/inbox/list", signed_in(inbox.inbox_list), methods=["GET", "POST"]),
        Route("/events", signed_in(inbox.events, active=False)),
        Route("/week", signed_in(inbox.week)),
        Route("/callers/{call_id:id}", signed_in(inbox.history)),
        Route("/callers/{call_id:id}/call", signed_in(inbox.call), methods=["POST"]),
        Route("/callers/{call_id:id}/handled", signed_in(inbox.handled), methods=["POST"]),
        Route("/callers/{call_id:id}/never", signed_in(inbox.confirm_never)),
        Route("/callers/{call_id:id}/never", signed_in(inbox.never), methods=["POST"]),
        Route("/marks/{mark_id:id}/undo", signed_in(inbox.undo), methods=["POST"]),
        Route("/admin/users", signed_in(inbox.admin_users)),
        Route("/admin/users", signed_in(inbox.admin_add), methods=["POST"]),
        Route("/admin/users/{user_id:id}", signed_in(inbox.admin_user)),
        Route("/admin/users/{user_id:id}", signed_in(inbox.admin_change), methods=["POST"]),
        Route(
            "/admin/users/{user_id:id}/disable", signed_in(inbox.admin_disable), methods=["POST"]
        ),
        Route("/admin/users/{user_id:id}/enable", signed_in(inbox.admin_enable), methods=["POST"]),
        Route(
            "/admin/users/{user_id:id}/password-link",
            signed_in(inbox.admin_password_link),
            methods=["POST"],
        ),
        Route(
            "/admin/users/{user_id:id}/sign-out", signed_in(inbox.admin_sign_out), methods=["POST"]
        ),
        Route("/password/{token}", inbox.password_page),
        Route("/password/{token}", inbox.password_set, methods=["POST"]),
        Route("/sign-in", inbox.sign_in_page),
        Route("/sign-in", inbox.sign_in, methods=["POST"]),
        Route("/sign-out", inbox.sign_out, methods=["POST"]),
        Route("/link/{token}", inbox.link_page),
        Route("/link/{token}", inbox.link_use, methods=["POST"]),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]


def create_app(
    settings: Settings,
    store: Store,
    *,
    passwords: Passwords | None = None,
    clock: Callable[[], float] = time.time,
    dial: Dial | None = None,
) -> ASGIApp:
    inbox = Inbox(settings, store, passwords=passwords, clock=clock, dial=dial)

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        await inbox.changes.start()
        try:
            yield
        finally:
            await inbox.changes.stop()

    async def refused(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, Refused)
        return inbox.page(
            request, exc.template, status=exc.status, message=exc.message, **exc.context
        )

    async def not_found(request: Request, _exc: Exception) -> Response:
        return inbox.page(request, "message.html", status=404, message="There is no such page.")

    starlette = Starlette(
        routes=routes(inbox),
        lifespan=lifespan,
        exception_handlers={Refused: refused, 404: not_found, 405: not_found},
    )
    return Guard(starlette)
