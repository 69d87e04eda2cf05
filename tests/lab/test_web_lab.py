"""End to end in the real Asterisk lab: a click in the browser rings the desk, the carrier sees
only the neutral caller ID, and the caller leaves the open page live once the callback is answered.

Uses the FastAGI server and settings of tests/lab/test_agi_lab.py (the lab dialplan's
[callback-desk-dial] context points at it). Run under the lab lock.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from callback_desk.core.store import Store
from fakes.settings import make_settings
from tests.agi_support import add_missed
from tests.browser.test_web_browser import CHROMIUM, browser, sign_in_with_keyboard
from tests.conftest import as_role
from tests.lab.lab import PRODUCT_USER, Lab
from tests.lab.test_agi_lab import AGI, NEUTRAL_NAME, NEUTRAL_NUMBER, fastagi
from tests.web_support import SECRET, add_user, serving

pytestmark = [
    pytest.mark.lab,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Chromium is not installed"),
]
__all__ = ["browser", "fastagi"]  # fixtures used by name below


async def test_browser_click_rings_the_desk_and_the_caller_sees_only_the_neutral_number(
    lab: Lab, fastagi: Any, browser: Any, store: Store, owner_dsn: str, db_dsn: str, tmp_path: Path
) -> None:
    from playwright.async_api import expect

    settings = make_settings(
        db_dsn,
        ami={"host": "127.0.0.1", "port": 5038, **PRODUCT_USER},
        pbx={"timezone": "America/New_York", "country": "US"},
        agi=AGI,
        web={"secret": SECRET},
    )
    await add_user(store, "jane", extensions=("100",))
    call_id = await add_missed(store, "+12125550146", 30)
    await lab.set_behaviour("phones", "100", "answer:20")
    await lab.set_behaviour("carrier", "2125550146", "answer:4")
    # The inbox with the inbox's rights only, as installed (sql/grants.sql).
    web = await Store.open(make_settings(as_role(owner_dsn, "cbd_web")).database)
    try:
        async with serving(settings, web) as base_url:
            context = await browser.new_context()
            page = await context.new_page()
            await sign_in_with_keyboard(page, base_url, "jane")
            card = page.locator("section.caller", has_text="(212) 555-0146")
            await expect(card).to_be_visible()
            await card.get_by_role("button", name="Call from my desk phone").click()

            desk = await lab.wait_received_callerid("phones", "100", timeout=20)
            assert "555-0146" in desk.name  # the desk's display says whom it is about to call
            await expect(page.get_by_role("status")).to_contain_text(
                "Your desk phone answered", timeout=30_000
            )
            await page.evaluate("window.notReloaded = true")
            received = await lab.carrier_received_callerid("2125550146", timeout=40)
            assert received.name == NEUTRAL_NAME
            assert received.number in (NEUTRAL_NUMBER, NEUTRAL_NUMBER.removeprefix("+"))
            # The callback was answered: the caller leaves the open page by itself.
            await expect(card).to_have_count(0, timeout=40_000)
            assert await page.evaluate("window.notReloaded") is True
            await page.goto(f"{base_url}/callers/{call_id}")
            await expect(page.locator("main")).to_contain_text("ANSWER")
            await expect(page.locator("main")).to_contain_text("jane — call (desk 100)")
            await context.close()
    finally:
        await web.close()
