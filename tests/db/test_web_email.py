"""The morning email links to the callback inbox with a single-use sign-in link, not ``tel:``."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime

import pytest

from callback_desk.core.store import Store
from callback_desk.report.command import ReportOptions, run
from callback_desk.web.links import sign_in_link
from tests.conftest import as_role
from tests.db.test_report_mail import parsed, parts
from tests.report_support import Sink, start_smtp
from tests.web_support import add_caller, add_user, client_for, csrf_of, web_settings

# The report runs with cbd_report's rights: it issues links through issue_sign_in_link() and
# never reads the users table (sql/grants.sql).
pytestmark = pytest.mark.db_role("cbd_report")


async def test_email_carries_a_sign_in_link_that_works_once(owner_dsn: str, store: Store) -> None:
    # Two components, each with its own rights (sql/grants.sql): the report mails the link as
    # cbd_report, the inbox honours it as cbd_web.
    report_dsn, web_dsn = as_role(owner_dsn, "cbd_report"), as_role(owner_dsn, "cbd_web")
    await add_user(store, "jane", email="Jane@example.org")
    await add_user(store, "boss", role="admin", extensions=("100",), email="boss@example.org")
    await add_caller(store, "a", "2125550123", line="2001")
    sink = Sink()
    server, port = await start_smtp(sink, starttls=False)
    base = web_settings(web_dsn)
    sections = {
        "database": {"dsn": report_dsn},
        "web": {
            "secret": base.section("web").secret("secret").reveal(),
            "public_url": "https://callbacks.test",
        },
        "report": {"email_to": ["jane@example.org", "desk@example.org", "boss@example.org"]},
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
    jane, desk, boss = parsed(sink)
    plain, html = parts(jane)
    url = re.search(r"https://callbacks\.test/link/[A-Za-z0-9_.-]+", plain)
    assert url and f'href="{url[0]}"' in html and "Open my callback inbox" in html
    assert "tel:" not in plain and "tel:" not in html
    # Not an inbox user, or an admin (who signs in with a password): no link.
    for other in (desk, boss):
        other_plain, other_html = parts(other)
        assert "/link/" not in other_plain and "/link/" not in other_html
    path = url[0].removeprefix("https://callbacks.test")
    inbox = await Store.open(web_settings(web_dsn).database)
    try:
        async with client_for(web_settings(web_dsn), inbox) as browser:
            page = await browser.get(path)
            assert page.status_code == 200
            assert (await browser.get("/inbox/list")).status_code == 401
            assert (await browser.post(path, data={"csrf": csrf_of(page.text)})).status_code == 303
            assert "(212) 555-0123" in (await browser.get("/inbox/list")).text
    finally:
        await inbox.close()
