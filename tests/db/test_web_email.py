"""The morning email links to the callback inbox with a single-use sign-in link, not ``tel:``."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime

from callback_desk.core.store import Store
from callback_desk.report.command import ReportOptions, run
from callback_desk.web.links import sign_in_link
from tests.db.test_report_mail import parsed, parts
from tests.db.test_web import client_for
from tests.report_support import Sink, start_smtp
from tests.web_support import add_caller, add_user, csrf_of, web_settings


async def test_email_carries_a_sign_in_link_that_works_once(db_dsn: str, store: Store) -> None:
    await add_user(store, "jane", email="Jane@example.org")
    await add_caller(store, "a", "2125550123", line="2001")
    sink = Sink()
    server, port = await start_smtp(sink, starttls=False)
    base = web_settings(db_dsn)
    sections = {
        "database": {"dsn": db_dsn},
        "web": {
            "secret": base.section("web").secret("secret").reveal(),
            "public_url": "https://callbacks.test",
        },
        "report": {"email_to": ["jane@example.org", "desk@example.org"]},
        "smtp": {
            "host": "127.0.0.1",
            "port": port,
            "security": "none",
            "sender": "reports@example.org",
            "timeout": 5,
        },
    }
    from callback_desk.core.config import Settings

    settings = Settings.from_mapping(sections, environ={})

    async def links(s: Store, address: str) -> str | None:
        return await sign_in_link(s, settings, address)

    try:
        out = io.StringIO()
        options = ReportOptions(email=True, since=datetime(2020, 1, 1, tzinfo=UTC))
        assert await run(settings, options, out, datetime.now(UTC), links) == 0
    finally:
        server.close()
        await server.wait_closed()
    jane, desk = parsed(sink)
    plain, html = parts(jane)
    url = re.search(r"https://callbacks\.test/link/[A-Za-z0-9_.-]+", plain)
    assert url and f'href="{url[0]}"' in html and "Open my callback inbox" in html
    assert "tel:" not in plain and "tel:" not in html
    desk_plain, desk_html = parts(desk)  # not an inbox user: no link
    assert "/link/" not in desk_plain and "/link/" not in desk_html
    path = url[0].removeprefix("https://callbacks.test")
    async with client_for(web_settings(db_dsn), store) as browser:
        page = await browser.get(path)
        assert page.status_code == 200 and (await browser.get("/inbox/list")).status_code == 401
        assert (await browser.post(path, data={"csrf": csrf_of(page.text)})).status_code == 303
        assert "(212) 555-0123" in (await browser.get("/inbox/list")).text
