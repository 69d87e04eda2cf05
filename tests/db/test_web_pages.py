"""The inbox in pages: a front desk with hundreds of callers waiting gets a bounded page, the most
urgent first, and finds a caller by the last digits of the number without the digits ever
reaching an address (URL), a link or the access log."""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from callback_desk.core.store import Store
from callback_desk.web.app import create_app
from callback_desk.web.middleware import Guard
from callback_desk.web.views.callers import PAGE_SIZE
from fakes.ami_server import FakeAmi
from tests.report_support import call
from tests.web_support import FAST, add_user, csrf_of, sign_in, web_settings

pytestmark = pytest.mark.db_role("cbd_web")

CALLERS = PAGE_SIZE * 2 + 20  # three pages


@pytest.fixture
async def web(
    db_dsn: str, component_store: Store, ami: FakeAmi
) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(web_settings(db_dsn, ami.port), component_store, passwords=FAST)
    assert isinstance(app, Guard)
    async with app.app.router.lifespan_context(app.app):
        transport = httpx.ASGITransport(app=app, client=("10.0.0.5", 40000))
        async with httpx.AsyncClient(transport=transport, base_url="https://inbox.test") as client:
            yield client


def number(i: int) -> str:
    """Caller i's number: every one ends in 0, caller 117's in 1170."""
    return f"212555{i:03d}0"


def display(i: int) -> str:
    return f"555-{number(i)[6:]}"


async def many_callers(store: Store) -> None:
    """CALLERS callers on line 2001 (and one on 2002); caller i called i % 3 + 1 times, so the
    most urgent (most calls, then most recent) are spread over the pages."""
    now = datetime.now(UTC)
    calls = [
        call(f"c{i}-{n}", now - timedelta(minutes=10 * i + n), number(i), did="2001", rang=("101",))
        for i in range(CALLERS)
        for n in range(i % 3 + 1)
    ]
    calls.append(call("other", now, "6465559999", did="2002", rang=("102",)))
    await store.record_calls("pbx", calls)


def shown(page: str) -> list[str]:
    """The numbers on a page, in order (national format)."""
    return re.findall(r'class="number">\(212\) (555-\d{4})<', page)


def expected_order() -> list[str]:
    urgent = sorted(range(CALLERS), key=lambda i: (-(i % 3 + 1), 10 * i))
    return [display(i) for i in urgent]


async def test_the_front_desk_gets_pages_of_the_most_urgent_first(
    web: httpx.AsyncClient, store: Store
) -> None:
    await add_user(store, "desk", role="frontdesk", extensions=("100",))
    await many_callers(store)
    await sign_in(web, "desk")
    first = (await web.get("/")).text
    assert len(shown(first)) == PAGE_SIZE
    assert f"1\N{EN DASH}{PAGE_SIZE} of {CALLERS + 1} callers" in first
    assert "Page 1 of 3" in first and "Next page" in first and "Previous page" not in first
    pages = [shown((await web.get(f"/?page={n}")).text) for n in (1, 2, 3)]
    # Every caller once, in the report's order (and the one on line 2002, not matched here).
    assert [n for page in pages for n in page] == expected_order()
    # A page past the end (callers were returned meanwhile) shows the last one.
    assert shown((await web.get("/?page=9")).text) == shown((await web.get("/?page=3")).text)
    assert shown((await web.get("/?page=x")).text) == shown(first)
    # The live list reads the page the person is on.
    assert shown((await web.get("/inbox/list?page=2")).text) == pages[1]


async def test_a_caller_is_found_by_the_last_digits_posted_never_in_an_address(
    web: httpx.AsyncClient, store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    await add_user(store, "jane", extensions=("101",))
    await many_callers(store)
    await sign_in(web, "jane")
    csrf = csrf_of((await web.get("/")).text)
    with caplog.at_level(logging.DEBUG):
        found = await web.post("/", data={"csrf": csrf, "digits": "555-1170"})
        assert found.status_code == 200
        assert shown(found.text) == [display(117)]
        assert "1\N{EN DASH}1 of 1 caller with a number ending in 5551170" in found.text
        # Typed as people write numbers; shown back in the box, not in any address.
        assert 'value="555-1170"' in found.text
        # Every number ends in 0: pages of them, most urgent first, whose forms post the digits.
        few = await web.post("/", data={"csrf": csrf, "digits": "0"})
        assert shown(few.text) == expected_order()[:PAGE_SIZE]
        more = await web.post("/", data={"csrf": csrf, "digits": "0", "page": "2"})
        assert shown(more.text) == expected_order()[PAGE_SIZE : 2 * PAGE_SIZE]
        live = await web.post("/inbox/list", data={"csrf": csrf, "digits": "0", "page": "2"})
        assert shown(live.text) == shown(more.text)
        # Another therapist's caller is not found by its digits either.
        elsewhere = await web.post("/", data={"csrf": csrf, "digits": "9999"})
        assert "555-9999" not in elsewhere.text and "ending in 9999." in elsewhere.text
    for page in (few.text, more.text):
        for form in re.findall(r"<form[^>]*>", page):
            assert "555" not in form and "digits" not in form, form
        assert re.search(
            r'<form method="post" action="/">\s*<input type="hidden" name="csrf"[^>]*>\s*'
            r'<input type="hidden" name="digits" value="0">',
            page,
        )
        assert not re.search(r'href="[^"]*\d{4}', page.replace("/callers/", "/c/"))
    access = [r.getMessage() for r in caplog.records if r.name == "callback_desk.web.access"]
    assert "POST / 200" in access and "POST /inbox/list 200" in access
    everything = "\n".join(r.getMessage() for r in caplog.records if r.name != "httpx")
    assert "1170" not in everything and "555" not in everything


async def test_a_search_without_the_forms_token_is_refused(
    web: httpx.AsyncClient, store: Store
) -> None:
    """A page elsewhere cannot make a signed-in browser search (and read the answer's size)."""
    await add_user(store, "jane", extensions=("101",))
    await many_callers(store)
    await sign_in(web, "jane")
    for path in ("/", "/inbox/list"):
        for data in ({"digits": "1170"}, {"digits": "1170", "csrf": "forged"}):
            reply = await web.post(path, data=data)
            assert reply.status_code == 403 and "555-1170" not in reply.text


async def test_what_is_not_digits_is_a_hint_not_a_search(
    web: httpx.AsyncClient, store: Store
) -> None:
    await add_user(store, "jane", extensions=("101",))
    await many_callers(store)
    await sign_in(web, "jane")
    csrf = csrf_of((await web.get("/")).text)
    reply = await web.post("/", data={"csrf": csrf, "digits": "<b>Ann</b>"})
    assert "Type the last digits of the number" in reply.text
    assert "&lt;b&gt;Ann&lt;/b&gt;" in reply.text and "<b>Ann" not in reply.text
    assert len(shown(reply.text)) == PAGE_SIZE  # everyone, first page
    nobody = await web.post("/", data={"csrf": csrf, "digits": "99999"})
    assert "Nobody waiting for a callback has a number ending in 99999." in nobody.text
