"""Shared helpers for the callback inbox's tests: settings, callers, users, a signed-in client."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from argon2 import PasswordHasher

from callback_desk.core.config import Settings
from callback_desk.core.store import Store
from callback_desk.web.app import create_app
from callback_desk.web.auth import Passwords, Role
from callback_desk.web.middleware import Guard
from callback_desk.web.server import server
from callback_desk.web.store import WebStore
from fakes.settings import make_settings
from tests.report_support import call

SECRET = "test-secret-" + "x" * 40
PASSWORD = "correct horse battery"
# Cheap argon2 parameters: the same code path, without 64 MiB per verify on a shared CI box.
FAST = Passwords(PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
# Ext 101 (Jane) hears line 2001, ext 102 (Sam) line 2002; the front desk (100) hears all.
EXTENSIONS = {"100": ["*"], "101": ["2001"], "102": ["2002"]}


def web_settings(dsn: str, ami_port: int = 1, **web: Any) -> Settings:
    return make_settings(
        dsn,
        ami={"host": "127.0.0.1", "port": ami_port, "username": "callbackdesk", "secret": "s3cret"},
        agi={
            "callback_number": "+12125550100",
            "desk_ring_seconds": 5,
            "extensions": EXTENSIONS,
            "names": {"101": "Jane", "102": "Sam"},
        },
        web={"secret": SECRET, "public_url": "https://callbacks.test", **web},
    )


async def add_caller(
    store: Store,
    linkedid: str,
    number: str = "2125550123",
    *,
    line: str = "2001",
    name: str = "Caller",
    ago: timedelta = timedelta(hours=1),
) -> int:
    at = datetime.now(UTC) - ago
    await store.record_call("pbx", call(linkedid, at, number, did=line, name=name, rang=("101",)))
    found: int = await store.pool.fetchval("SELECT id FROM calls WHERE linkedid = $1", linkedid)
    return found


async def add_user(
    store: Store,
    username: str,
    role: Role = "therapist",
    extensions: tuple[str, ...] = ("101",),
    email: str = "",
) -> int:
    return await WebStore(store.pool).add_user(
        username,
        email,
        role,
        extensions,
        FAST.hash(PASSWORD),
    )


def csrf_of(page: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found, "no CSRF field on the page"
    return found[1]


async def sign_in(
    client: httpx.AsyncClient, username: str, password: str = PASSWORD
) -> httpx.Response:
    page = await client.get("/sign-in")
    return await client.post(
        "/sign-in",
        data={"username": username, "password": password, "csrf": csrf_of(page.text)},
    )


@asynccontextmanager
async def client_for(
    settings: Settings, store: Store, clock: Callable[[], float] = time.time, ip: str = "10.0.0.5"
) -> AsyncIterator[httpx.AsyncClient]:
    """The inbox app through httpx's ASGI transport, as a browser at ``ip`` over HTTPS."""
    async with inbox_app(settings, store, clock) as app, browser(app, ip) as client:
        yield client


@asynccontextmanager
async def inbox_app(
    settings: Settings, store: Store, clock: Callable[[], float] = time.time
) -> AsyncIterator[Guard]:
    """One inbox application (its lifespan running), for :func:`browser` s at several addresses."""
    app = create_app(settings, store, passwords=FAST, clock=clock)
    assert isinstance(app, Guard)
    async with app.app.router.lifespan_context(app.app):
        yield app


@asynccontextmanager
async def browser(app: Guard, ip: str) -> AsyncIterator[httpx.AsyncClient]:
    """A browser at ``ip`` over HTTPS, talking to ``app`` through httpx's ASGI transport."""
    transport = httpx.ASGITransport(app=app, client=(ip, 40000))
    async with httpx.AsyncClient(transport=transport, base_url="https://inbox.test") as client:
        yield client


@asynccontextmanager
async def serving(
    settings: Settings,
    store: Store,
    trusted: tuple[str, ...] = (),
    clock: Callable[[], float] = time.time,
) -> AsyncIterator[str]:
    """The inbox on uvicorn on a free port of 127.0.0.1, in this loop; yields its base URL."""
    app = create_app(settings, store, passwords=FAST, clock=clock)
    uvicorn_server = server(app, "127.0.0.1", 0, trusted)
    task = asyncio.create_task(uvicorn_server.serve())
    while not uvicorn_server.started:
        assert not task.done(), "the web server did not start"
        await asyncio.sleep(0.02)
    port = uvicorn_server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        uvicorn_server.should_exit = True
        await task
