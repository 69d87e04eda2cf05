"""Every page of the inbox in Chromium, as a therapist sees it on a desktop and on a phone, in a
light and a dark colour scheme: axe-core finds no WCAG 2.2 A/AA violation on any of them, a
caller's history fits a 390 px phone without sideways scrolling, and sign-in over plain HTTP on
a LAN name (resolved to 127.0.0.1 by Chromium's --host-resolver-rules) shows why it cannot work.

Screenshots go to ``tmp_path``; with ``CALLBACK_DESK_SCREENSHOTS=1`` also to ``docs/``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from callback_desk.core.store import Store
from fakes.ami_server import FakeAmi
from tests.browser.axe import violations
from tests.browser.test_web_browser import LAUNCH, keep, sign_in_with_keyboard
from tests.report_support import call
from tests.web_support import PASSWORD, add_caller, add_user, serving, web_settings

# (name, viewport, phone?, colour scheme)
LOOKS = [
    ("desktop", {"width": 1200, "height": 900}, False, "light"),
    ("phone", {"width": 390, "height": 844}, True, "light"),
    ("desktop-dark", {"width": 1200, "height": 900}, False, "dark"),
    ("phone-dark", {"width": 390, "height": 844}, True, "dark"),
]
LAN_NAME = "inbox.lan"
# body's background in each scheme (inbox.css): the dark scheme is the page's own, not the UA's.
LIGHT_BACKGROUND, DARK_BACKGROUND = "rgb(244, 244, 241)", "rgb(21, 24, 27)"
# The screenshots the docs show (docs/inbox.md), beside test_web_browser.py's.
DOCS_SHOTS = (
    "inbox-desktop-dark.png",
    "inbox-phone-dark.png",
    "history-phone.png",
    "admin-users-desktop.png",
    "admin-user-phone.png",
    "inbox-undo-desktop.png",
)


@pytest.fixture
async def inbox(db_dsn: str, store: Store, ami: FakeAmi) -> AsyncIterator[tuple[str, int]]:
    """The inbox on a real socket, jane (desk 101, line 2001) and her callers; (url, call id)."""
    await add_user(store, "jane", extensions=("101",))
    now = datetime.now(UTC)
    # Sam called twice; the PBX reported the phones it rang as dial strings.
    for linkedid, hours in (("sam1", 5), ("sam2", 2)):
        await store.record_call(
            "pbx",
            call(
                linkedid,
                now - timedelta(hours=hours),
                "2125550123",
                name="Sam Caller",
                did="2001",
                rang=("PJSIP/101@phones", "Local/102@from-queue/n"),
                reached_voicemail=hours == 2,
            ),
        )
    await add_caller(store, "w", "anonymous", line="2001", name="", ago=timedelta(hours=1))
    await add_caller(store, "uk", "+442079460123", line="2001", name="Ada", ago=timedelta(hours=3))
    sam: int = await store.pool.fetchval("SELECT id FROM calls WHERE linkedid = 'sam2'")
    async with serving(web_settings(db_dsn, ami.port), store) as url:
        yield url, sam


@pytest.fixture
async def chromium() -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        launch = {
            **LAUNCH,
            "args": [*LAUNCH["args"], f"--host-resolver-rules=MAP {LAN_NAME} 127.0.0.1"],
        }
        browser = await playwright.chromium.launch(**launch)
        try:
            yield browser
        finally:
            await browser.close()


async def _context(chromium: Any, viewport: dict[str, int], phone: bool, scheme: str) -> Any:
    return await chromium.new_context(
        viewport=viewport,
        is_mobile=phone,
        has_touch=phone,
        device_scale_factor=2 if phone else 1,
        color_scheme=scheme,
    )


async def test_every_page_passes_axe_at_every_size_and_scheme(
    inbox: tuple[str, int], chromium: Any, tmp_path: Path
) -> None:
    url, sam = inbox
    found: dict[str, list[str]] = {}
    for look, viewport, phone, scheme in LOOKS:
        context = await _context(chromium, viewport, phone, scheme)
        page = await context.new_page()
        await page.goto(f"{url}/sign-in")
        found[f"{look} sign-in"] = await violations(page)
        await sign_in_with_keyboard(page, url, "jane")
        pages = {
            "inbox": "/",
            "inbox after an action": "/?done=handled",
            "week": "/week",
            "history": f"/callers/{sam}",
            "never call back?": f"/callers/{sam}/never",
            "no such page": "/no-such-page",
            "a used sign-in link": "/link/not-a-token",
        }
        for name, path in pages.items():
            await page.goto(f"{url}{path}")
            found[f"{look} {name}"] = await violations(page)
            background = await page.evaluate("getComputedStyle(document.body).backgroundColor")
            assert background == DARK_BACKGROUND if scheme == "dark" else LIGHT_BACKGROUND
            if name in ("inbox", "history", "week"):
                shot = tmp_path / f"{name}-{look}.png"
                await page.screenshot(path=str(shot), full_page=True)
                if shot.name in DOCS_SHOTS:
                    keep(shot)
        await context.close()
    failed = {where: v for where, v in found.items() if v}
    assert not failed, "axe-core (WCAG 2.2 A/AA) found:\n" + "\n".join(
        f"{where}: {line}" for where, lines in failed.items() for line in lines
    )
    assert len(found) == len(LOOKS) * 8


async def test_the_admin_pages_and_undo_pass_axe_at_every_size_and_scheme(
    inbox: tuple[str, int], store: Store, chromium: Any, tmp_path: Path
) -> None:
    """An admin's Users page, a user's page, a password link and the page it opens, and the
    inbox's Undo after Handled (pressed, so the caller comes back)."""
    from playwright.async_api import expect

    url, _sam = inbox
    await add_user(store, "boss", role="admin", extensions=("100",))
    jane: int = await store.pool.fetchval("SELECT id FROM web_users WHERE username = 'jane'")
    found: dict[str, list[str]] = {}

    async def check(page: Any, look: str, name: str, shot: str = "") -> None:
        found[f"{look} {name}"] = await violations(page)
        if shot:
            path = tmp_path / f"{shot}-{look}.png"
            await page.screenshot(path=str(path), full_page=True)
            if path.name in DOCS_SHOTS:
                keep(path)

    for look, viewport, phone, scheme in LOOKS:
        context = await _context(chromium, viewport, phone, scheme)
        page = await context.new_page()
        await sign_in_with_keyboard(page, url, "boss")
        await page.get_by_role("link", name="Users").click()
        await expect(page.get_by_role("heading", name="Users")).to_be_visible()
        await check(page, look, "users", "admin-users")
        await page.get_by_role("link", name="jane").click()
        await expect(page.get_by_role("heading", name="jane")).to_be_visible()
        await check(page, look, "a user", "admin-user")
        await page.get_by_role("button", name="Make a password link").click()
        await expect(page.get_by_role("heading", name="Password link for jane")).to_be_visible()
        await check(page, look, "a password link")
        link = await page.locator(".link code").inner_text()
        other = await context.browser.new_context(color_scheme=scheme, viewport=viewport)
        holder = await other.new_page()
        await holder.goto(link.replace("https://callbacks.test", url))
        await expect(holder.get_by_role("heading", name="Choose your password")).to_be_visible()
        await check(holder, look, "choose a password")
        await other.close()
        await page.goto(f"{url}/admin/users/{jane}")
        await page.get_by_label("Desk extensions").fill("10x")
        await page.get_by_role("button", name="Save").click()
        await expect(page.get_by_role("alert")).to_contain_text("is not an extension number")
        await check(page, look, "a refused change")
        await page.goto(f"{url}/")
        card = page.locator("section.caller", has_text="(212) 555-0123")
        await card.get_by_role("button", name="Handled").click()
        undo = page.get_by_role("button", name="Undo handled for (212) 555-0123")
        await expect(undo).to_be_visible()
        await check(page, look, "inbox with undo", "inbox-undo")
        await undo.click()
        await expect(page.get_by_role("status")).to_contain_text("Undone")
        await expect(page.locator("section.caller", has_text="(212) 555-0123")).to_be_visible()
        await context.close()
    failed = {where: v for where, v in found.items() if v}
    assert not failed, "axe-core (WCAG 2.2 A/AA) found:\n" + "\n".join(
        f"{where}: {line}" for where, lines in failed.items() for line in lines
    )
    assert len(found) == len(LOOKS) * 6


async def test_a_history_fits_a_phone_and_reads_like_the_inbox(
    inbox: tuple[str, int], chromium: Any
) -> None:
    from playwright.async_api import expect

    url, sam = inbox
    context = await _context(chromium, {"width": 390, "height": 844}, True, "light")
    page = await context.new_page()
    await sign_in_with_keyboard(page, url, "jane")
    card = page.locator("section.caller", has_text="(212) 555-0123")
    await expect(card).to_contain_text("line 2001 → 101, 102")
    await page.goto(f"{url}/callers/{sam}")
    width = await page.evaluate(
        "[document.documentElement.scrollWidth, document.documentElement.clientWidth]"
    )
    assert width[0] <= width[1], f"the history scrolls sideways: {width}"
    rows = page.locator("table.stack").first.locator("tbody tr")
    await expect(rows).to_have_count(2)
    # The number and the line as the inbox writes them, not as the PBX reported them; on a
    # phone each cell is named by its column (what a screen reader says, too).
    first = rows.first
    await expect(first.get_by_role("cell", name="Number: (212) 555-0123")).to_be_visible()
    await expect(first.get_by_role("cell", name="Line: 2001 → 101, 102")).to_be_visible()
    assert "PJSIP/" not in await page.content()
    await context.close()


async def test_sign_in_over_plain_http_on_a_lan_name_says_why_and_what_to_do(
    inbox: tuple[str, int], chromium: Any
) -> None:
    from playwright.async_api import expect

    url, _sam = inbox
    port = url.rsplit(":", 1)[1]
    for look, viewport, phone, scheme in LOOKS:
        context = await _context(chromium, viewport, phone, scheme)
        page = await context.new_page()
        await page.goto(f"http://{LAN_NAME}:{port}/sign-in")
        await page.get_by_label("User name").fill("jane")
        await page.get_by_label("Password").fill(PASSWORD)
        async with page.expect_response(lambda r: r.request.method == "POST") as posted:
            await page.get_by_role("button", name="Sign in").click()
        assert (await posted.value).status == 400
        await expect(page.get_by_role("heading", name="Open the inbox over HTTPS")).to_be_visible()
        await expect(page.get_by_role("link", name="https://callbacks.test/")).to_be_visible()
        await expect(page.get_by_role("link", name=f"http://localhost:{8047}/")).to_be_visible()
        assert await violations(page) == [], look
        await context.close()


async def test_axe_reports_what_it_is_shown(inbox: tuple[str, int], chromium: Any) -> None:
    # The check itself can fail: an image without a text alternative is a WCAG 1.1.1 violation.
    url, _sam = inbox
    page = await chromium.new_page()
    await page.goto(f"{url}/sign-in")
    await page.evaluate(
        "document.querySelector('main').insertAdjacentHTML('beforeend', "
        "'<img src=\\'/static/icon.svg\\'>')"
    )
    found = await violations(page)
    assert [line.split(" ")[0] for line in found] == ["image-alt"]
    await page.close()
