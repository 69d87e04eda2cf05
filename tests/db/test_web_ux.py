"""What a therapist meets in the inbox (issue 17): the button the callback policy would refuse is
not shown, and a sign-in over plain HTTP says why it cannot work and what to do.

Over the ASGI interface with the inbox's own database rights; the same in Chromium on a LAN name
is in tests/browser/test_inbox_pages.py.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest

from callback_desk.core.store import Store
from callback_desk.demo.inbox import read_page
from callback_desk.web.app import create_app
from callback_desk.web.middleware import Guard
from tests.web_support import FAST, add_caller, add_user, csrf_of, sign_in, web_settings

pytestmark = pytest.mark.db_role("cbd_web")


@asynccontextmanager
async def inbox_at(db_dsn: str, store: Store, base_url: str) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(web_settings(db_dsn), store, passwords=FAST)
    assert isinstance(app, Guard)
    async with app.app.router.lifespan_context(app.app):
        transport = httpx.ASGITransport(app=app, client=("10.0.0.5", 40000))
        async with httpx.AsyncClient(transport=transport, base_url=base_url) as client:
            yield client


async def test_the_call_button_shows_only_where_the_callback_policy_allows_it(
    db_dsn: str, component_store: Store, store: Store
) -> None:
    await add_user(store, "jane", extensions=("101",))
    await add_caller(store, "ok", "2125550123", line="2001", name="Valid")
    # E.164-shaped but no valid number (area code 555): the policy refuses it.
    await add_caller(store, "fake", "+15550100006", line="2001", name="Fiction")
    # Valid, but abroad: [agi] allow_regions is the practice's country only.
    await add_caller(store, "abroad", "+442079460123", line="2001", name="London")
    async with inbox_at(db_dsn, component_store, "https://inbox.test") as client:
        assert (await sign_in(client, "jane")).status_code == 303
        page = await client.get("/", headers={"accept": "text/html"})
    cards = {card.number: card for card in read_page(page.text)[1]}
    assert "Call from my desk phone" in cards["(212) 555-0123"].buttons
    for refused in ("+1 555-010-0006", "+44 20 7946 0123"):
        assert "Call from my desk phone" not in cards[refused].buttons
        assert any("may not call this number" in t for t in cards[refused].texts)


@pytest.mark.parametrize(
    ("base_url", "status", "says"),
    [
        # A LAN name over plain HTTP: the browser dropped the Secure cookie.
        ("http://inbox.lan:8047", 400, "Open the inbox over HTTPS"),
        # This computer's own address keeps Secure cookies: a missing one means an old form.
        ("http://localhost:8047", 403, "This form has expired"),
        ("https://inbox.lan", 403, "This form has expired"),
    ],
)
async def test_a_form_without_the_session_cookie_says_why(
    db_dsn: str, component_store: Store, base_url: str, status: int, says: str
) -> None:
    async with inbox_at(db_dsn, component_store, base_url) as client:
        page = await client.get("/sign-in")
        client.cookies.clear()  # what a browser does with a Secure cookie over plain HTTP
        answer = await client.post(
            "/sign-in", data={"username": "jane", "password": "x", "csrf": csrf_of(page.text)}
        )
    assert answer.status_code == status
    assert says in answer.text
    if status == 400:
        assert "https://callbacks.test/" in answer.text  # [web] public_url
        assert "http://localhost:8047/" in answer.text
