"""The callback inbox in a real browser: Debian's Chromium driven by Playwright, against the real
server (uvicorn on a socket), a real PostgreSQL and the strict fake AMI.

Screenshots go to ``tmp_path``; with ``CALLBACK_DESK_SCREENSHOTS=1`` they are also written to
``docs/`` (the documentation's pictures), so an ordinary test run leaves the tree clean.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from callback_desk.core.store import Store
from callback_desk.web.views.callers import PAGE_SIZE
from fakes.ami_server import FakeAmi
from tests.browser.axe import violations
from tests.db.test_web import dispositions, originate_answers
from tests.report_support import call
from tests.web_support import PASSWORD, add_caller, add_user, serving, web_settings

CHROMIUM = Path("/usr/bin/chromium")
DOCS = Path(__file__).resolve().parents[2] / "docs"
# Debian's Chromium, never a downloaded one: nothing is fetched at run time.
LAUNCH: dict[str, Any] = {
    "executable_path": str(CHROMIUM),
    "args": [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
    ],
}

pytestmark = [
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Chromium is not installed"),
    # The inbox connects with cbd_web's rights only (sql/grants.sql).
    pytest.mark.db_role("cbd_web"),
]


@pytest.fixture
async def base_url(db_dsn: str, component_store: Store, ami: FakeAmi) -> AsyncIterator[str]:
    async with serving(web_settings(db_dsn, ami.port), component_store) as url:
        yield url


async def sign_in_with_keyboard(page: Any, base_url: str, username: str) -> None:
    from playwright.async_api import expect

    await page.goto(f"{base_url}/")
    await expect(page).to_have_url(f"{base_url}/sign-in")
    await page.keyboard.type(username)
    await page.keyboard.press("Tab")
    await page.keyboard.type(PASSWORD)
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("heading", name="Callers to call back")).to_be_visible()
    await expect(page.locator("#live-state")).to_be_visible()  # the event stream is open


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(**LAUNCH)
        try:
            yield chromium
        finally:
            await chromium.close()


def keep(shot: Path) -> None:
    if os.environ.get("CALLBACK_DESK_SCREENSHOTS") == "1":
        DOCS.mkdir(exist_ok=True)
        shutil.copy(shot, DOCS / shot.name)


async def test_sign_in_live_call_handled_history_in_chromium(
    base_url: str,
    browser: Any,
    store: Store,
    ami: FakeAmi,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    from playwright.async_api import expect

    caplog.set_level(logging.INFO)

    originate_answers(ami)
    await add_user(store, "jane", extensions=("101",))
    handled = await add_caller(
        store, "h", "3125550188", line="2001", name="Robin", ago=timedelta(hours=3)
    )
    context = await browser.new_context(viewport={"width": 1200, "height": 900})
    page = await context.new_page()
    # The strict CSP must not be blocking anything of ours (Chromium reports it on the console).
    console: list[str] = []
    page.on("console", lambda message: console.append(f"{message.type}: {message.text}"))
    await sign_in_with_keyboard(page, base_url, "jane")
    await page.evaluate("window.notReloaded = true")

    # A missed call recorded now (as the listener would) appears without a reload.
    inserted = time.monotonic()
    call_id = await add_caller(store, "live", "2125550123", line="2001", name="Sam Caller")
    card = page.locator("section.caller", has_text="(212) 555-0123")
    await expect(card).to_be_visible(timeout=10_000)
    appeared = time.monotonic() - inserted
    assert await page.evaluate("window.notReloaded") is True
    await expect(card).to_contain_text("Sam Caller")
    await expect(card).to_contain_text("Hi, this is Jane, I think I missed a call")

    shot = tmp_path / "inbox-desktop.png"
    await page.screenshot(path=str(shot), full_page=True)
    keep(shot)
    phone = await browser.new_context(
        viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True
    )
    await phone.add_cookies(await context.cookies())
    small = await phone.new_page()
    await small.goto(f"{base_url}/")
    await expect(small.locator("section.caller")).to_have_count(2)
    shot = tmp_path / "inbox-phone.png"
    await small.screenshot(path=str(shot), full_page=True)
    keep(shot)
    await phone.close()

    # Call from my desk phone: the strict fake AMI checks the Originate.
    await card.get_by_role("button", name="Call from my desk phone").click()
    await expect(page.get_by_role("status")).to_contain_text("Your desk phone answered")
    sent = [a for a in ami.actions if a.get("action") == "Originate"]
    assert len(sent) == 1
    assert sent[0]["channel"] == "PJSIP/101"
    assert sent[0]["context"] == "callback-desk-dial"
    assert sent[0]["exten"] == str(call_id)
    assert sent[0]["variable"] == "CALLBACK_DESK_EXTENSION=101"
    # Only the desk's display shows whom it is about to call; the callee's caller ID is set by
    # the dial context to [agi] callback_number (checked on the wire in tests/lab/test_web_lab.py).
    assert sent[0]["callerid"] == '"Callback (212) 555-0123" <2125550123>'

    # Mark the other caller handled, by keyboard: it leaves the list.
    other = page.locator("section.caller", has_text="(312) 555-0188")
    await other.get_by_role("button", name="Call from my desk phone").focus()
    await page.keyboard.press("Tab")  # the next control is "Handled"
    assert await page.evaluate("document.activeElement.textContent") == "Handled"
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("status")).to_contain_text("Marked as handled")
    await expect(other).to_have_count(0)
    assert await dispositions(store) == [(handled, "handled", "jane")]

    # Resolved elsewhere (answered from the *47 menu): the caller leaves the page live.
    await page.evaluate("window.notReloaded = true")
    await store.pool.execute(
        "INSERT INTO callback_attempts (call_id, extension, ended_at, dial_status, talk_seconds)"
        " VALUES ($1, '101', now(), 'ANSWER', 42)",
        call_id,
    )
    await expect(card).to_have_count(0, timeout=10_000)
    assert await page.evaluate("window.notReloaded") is True
    await expect(page.get_by_text("Nobody is waiting for a callback.")).to_be_visible()

    await page.goto(f"{base_url}/week")
    await expect(page.get_by_role("heading", name="The week")).to_be_visible()
    await expect(page.locator("table.heat td")).to_have_count(7 * 24)
    shot = tmp_path / "week.png"
    await page.screenshot(path=str(shot), full_page=True)
    keep(shot)

    # The history: the missed call, the answered attempt and who placed it, the click.
    await page.goto(f"{base_url}/callers/{call_id}")
    history = page.locator("main")
    await expect(history).to_contain_text("Caller history")
    await expect(history).to_contain_text("ANSWER")
    await expect(history).to_contain_text("42 s")
    await expect(history).to_contain_text("jane — call (desk 101)")
    await expect(page).to_have_title("Caller history — Callback inbox")
    await context.close()
    assert not [line for line in console if "error" in line or "Content Security" in line]
    # The real server's logs (access log included) carry no number and no name.
    server_logs = "\n".join(
        r.getMessage() for r in caplog.records if r.name.startswith(("callback_desk", "uvicorn"))
    )
    assert "GET /callers/{call_id:id} 200" in server_logs
    for private in ("5550123", "555-0123", "5550188", "Sam Caller", "Robin"):
        assert private not in server_logs
    print(f"\nnew missed call on screen {appeared:.2f}s after it was recorded")  # noqa: T201


async def test_the_inbox_works_without_javascript(
    base_url: str, browser: Any, store: Store
) -> None:
    from playwright.async_api import expect

    await add_user(store, "jane", extensions=("101",))
    call_id = await add_caller(store, "a", "2125550123", line="2001")
    context = await browser.new_context(java_script_enabled=False)
    page = await context.new_page()
    await page.goto(f"{base_url}/sign-in")
    await page.get_by_label("User name").fill("jane")
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    card = page.locator("section.caller", has_text="(212) 555-0123")
    await expect(card).to_be_visible()
    await card.get_by_role("button", name="Never call back").click()
    # Never is for good: a page asks first, and says whom.
    await expect(page.get_by_role("heading", name="Never call back this caller?")).to_be_visible()
    await expect(page.locator("main")).to_contain_text("(212) 555-0123")
    await page.get_by_role("button", name="Yes, never call back").click()
    await expect(page.get_by_role("status")).to_contain_text("Marked as never call back")
    await expect(page.get_by_text("Nobody is waiting for a callback.")).to_be_visible()
    assert await dispositions(store) == [(call_id, "never", "jane")]
    await context.close()


async def test_live_updates_keep_the_page_and_the_search_shown(
    base_url: str, browser: Any, store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    """A front desk with more callers than a page: on page 2 a caller returned elsewhere leaves
    live; searching by the last digits, a new call from a matching number arrives live; the
    digits never reach the address bar or the server's logs."""
    from playwright.async_api import expect

    caplog.set_level(logging.INFO)
    await add_user(store, "desk", role="frontdesk", extensions=("100",))
    now = datetime.now(UTC)
    await store.record_calls(
        "pbx",
        [
            call(f"p{i}", now - timedelta(minutes=i + 1), f"212555{i:04d}", did="2001")
            for i in range(PAGE_SIZE + 10)
        ],
    )
    context = await browser.new_context()
    page = await context.new_page()
    await sign_in_with_keyboard(page, base_url, "desk")
    await page.get_by_role("button", name="Next page").click()
    await expect(page.locator("main")).to_contain_text("Page 2 of 2")
    await expect(page.locator("section.caller")).to_have_count(10)
    assert await violations(page) == []  # the pager and the search, at WCAG 2.2 A/AA
    await expect(page.locator("#live-state")).to_be_visible()
    await page.evaluate("window.notReloaded = true")
    last = page.locator("section.caller", has_text=f"(212) 555-{PAGE_SIZE + 9:04d}")
    await expect(last).to_be_visible()
    await store.pool.execute(
        "INSERT INTO caller_dispositions (number_key, disposition) VALUES ($1, 'handled')",
        f"+1212555{PAGE_SIZE + 9:04d}",
    )
    await expect(last).to_have_count(0, timeout=10_000)
    await expect(page.locator("section.caller")).to_have_count(9)
    assert await page.evaluate("window.notReloaded") is True

    await page.get_by_label("Find a caller by the last digits of their number").fill("0007")
    await page.get_by_role("button", name="Find").click()
    await expect(page.locator("section.caller")).to_have_count(1)
    assert await violations(page) == []
    await expect(page.locator("#live-state")).to_be_visible()
    await page.evaluate("window.notReloaded = true")
    await store.record_call("pbx", call("new", now, "3125550007", did="2002"))
    await expect(page.locator("section.caller")).to_have_count(2, timeout=10_000)
    await expect(page.locator("section.caller").first).to_contain_text("(312) 555-0007")
    assert await page.evaluate("window.notReloaded") is True
    assert "0007" not in page.url
    await context.close()
    server_logs = "\n".join(
        r.getMessage() for r in caplog.records if r.name.startswith(("callback_desk", "uvicorn"))
    )
    assert "POST /inbox/list 200" in server_logs
    assert "0007" not in server_logs and "555" not in server_logs


async def test_sign_out_ends_the_session_for_a_saved_cookie_too(
    base_url: str, browser: Any, store: Store
) -> None:
    """The shared front-desk computer: what the browser held before "Sign out" opens nothing after
    it, whether replayed in another browser or sent by hand."""
    from playwright.async_api import expect

    await add_user(store, "jane", extensions=("101",))
    await add_caller(store, "a", "2125550123", line="2001")
    context = await browser.new_context()
    page = await context.new_page()
    await sign_in_with_keyboard(page, base_url, "jane")
    await expect(page.locator("section.caller", has_text="(212) 555-0123")).to_be_visible()
    saved = await context.cookies()
    assert saved, "signing in set no cookie"
    before = await context.request.get(f"{base_url}/", max_redirects=0)
    assert before.status == 200 and "555-0123" in await before.text()

    await page.get_by_role("button", name="Sign out").click()
    await expect(page.get_by_role("heading", name="Sign in")).to_be_visible()

    # The old cookie, put back into a fresh browser: the sign-in page, not the callers.
    replay = await browser.new_context()
    await replay.add_cookies(saved)
    again = await replay.new_page()
    await again.goto(f"{base_url}/")
    await expect(again.get_by_role("heading", name="Sign in")).to_be_visible()
    await expect(again.locator("body")).not_to_contain_text("555-0123")
    # And sent by hand, redirects off: no caller list either.
    after = await replay.request.get(f"{base_url}/", max_redirects=0)
    assert after.status in (302, 303, 307, 401, 403), after.status
    assert "555-0123" not in await after.text()
    await replay.close()
    await context.close()
