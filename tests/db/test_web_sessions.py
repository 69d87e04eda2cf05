"""Server-side sessions (sql/0010_sessions.sql): signing out, a new password, disabling a user and
an admin's "sign out everywhere" end a session for good, whatever copy of its cookie is replayed;
idle and old sessions end; an open event stream of an ended session closes.

Each test replays a cookie saved before the protection acted, against the real app on a real
PostgreSQL with cbd_web's rights, and fails if that protection is taken out.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from callback_desk.core.config import Settings
from callback_desk.core.store import Store
from callback_desk.web.links import sign_in_link
from callback_desk.web.store import WebStore
from callback_desk.web.views.base import SESSION_COOKIE
from tests.db.test_web_cli import run, write_config
from tests.web_support import (
    PASSWORD,
    add_user,
    client_for,
    csrf_of,
    serving,
    sign_in,
    web_settings,
)

pytestmark = pytest.mark.db_role("cbd_web")

NEW_PASSWORD = "a brand new password"


def saved_cookie(client: httpx.AsyncClient) -> str:
    return next(str(c.value) for c in client.cookies.jar if c.name == SESSION_COOKIE)


async def signed_in_cookie(
    settings: Settings, store: Store, username: str, ip: str = "10.0.0.5"
) -> str:
    """The session cookie a browser at ``ip`` keeps once ``username`` signed in there."""
    async with client_for(settings, store, ip=ip) as client:
        await sign_in(client, username)
        return saved_cookie(client)


async def replay(settings: Settings, store: Store, cookie: str) -> int:
    """What the inbox answers a browser (another one) that sends only this saved cookie."""
    async with client_for(settings, store, ip="10.0.0.9") as other:
        other.cookies.set(SESSION_COOKIE, cookie, domain="inbox.test")
        return (await other.get("/inbox/list")).status_code


async def ended_why(store: Store) -> list[str | None]:
    rows = await store.pool.fetch(
        "SELECT ended_why FROM web_sessions ORDER BY ended_at NULLS LAST, id"
    )
    return [r["ended_why"] for r in rows]


async def test_a_cookie_saved_before_sign_out_opens_nothing_after_it(
    db_dsn: str, store: Store, component_store: Store
) -> None:
    await add_user(store, "jane")
    settings = web_settings(db_dsn)
    async with client_for(settings, component_store) as web:
        assert (await sign_in(web, "jane")).status_code == 303
        cookie = saved_cookie(web)
        assert await replay(settings, component_store, cookie) == 200
        page = await web.get("/")
        out = await web.post("/sign-out", data={"csrf": csrf_of(page.text)})
        assert out.status_code == 303
    # The attack: the cookie, copied before "Sign out" on the shared computer, used again.
    assert await replay(settings, component_store, cookie) == 401
    assert await ended_why(store) == ["signed-out"]


async def test_signing_in_as_someone_else_ends_the_previous_persons_session(
    db_dsn: str, store: Store, component_store: Store
) -> None:
    await add_user(store, "jane")
    await add_user(store, "sam", extensions=("102",))
    settings = web_settings(db_dsn)
    async with client_for(settings, component_store) as web:
        await sign_in(web, "jane")
        janes = saved_cookie(web)
        await sign_in(web, "sam")
    assert await replay(settings, component_store, janes) == 401


async def test_passwd_disable_and_enable_from_the_shell_end_sessions_for_good(
    db_dsn: str, owner_dsn: str, store: Store, component_store: Store, tmp_path: Path
) -> None:
    await add_user(store, "jane")
    settings = web_settings(db_dsn)
    config = write_config(tmp_path, owner_dsn)
    async with client_for(settings, component_store) as web:
        await sign_in(web, "jane")
        before_passwd = saved_cookie(web)
    rc, _, err = await run(config, "user", "passwd", "jane", "--password-stdin", stdin=NEW_PASSWORD)
    assert rc == 0, err
    assert await replay(settings, component_store, before_passwd) == 401
    async with client_for(settings, component_store) as web:
        assert (await sign_in(web, "jane", PASSWORD)).status_code == 401
        assert (await sign_in(web, "jane", NEW_PASSWORD)).status_code == 303
        before_disable = saved_cookie(web)
    rc, _, err = await run(config, "user", "disable", "jane")
    assert rc == 0, err
    assert await replay(settings, component_store, before_disable) == 401
    # Enabling again revives none of the old sessions.
    rc, _, err = await run(config, "user", "enable", "jane")
    assert rc == 0, err
    for cookie in (before_passwd, before_disable):
        assert await replay(settings, component_store, cookie) == 401
    assert await ended_why(store) == ["password", "disabled"]
    async with client_for(settings, component_store) as web:
        assert (await sign_in(web, "jane", NEW_PASSWORD)).status_code == 303


async def test_an_admin_signs_a_user_out_everywhere(
    db_dsn: str, store: Store, component_store: Store
) -> None:
    jane = await add_user(store, "jane")
    await add_user(store, "sam", extensions=("102",))
    settings = web_settings(db_dsn)
    cookies = [
        await signed_in_cookie(settings, component_store, "jane", ip)
        for ip in ("10.0.0.1", "10.0.0.2")
    ]
    sams = await signed_in_cookie(settings, component_store, "sam")
    assert await WebStore(component_store.pool).end_sessions(jane) == 2
    for cookie in cookies:
        assert await replay(settings, component_store, cookie) == 401
    assert await replay(settings, component_store, sams) == 200
    shown = await WebStore(component_store.pool).sessions_of(jane)
    assert [s.ended_why for s in shown] == ["everywhere", "everywhere"]


async def test_links_issued_before_a_new_password_or_a_disable_are_void(
    db_dsn: str, owner_dsn: str, store: Store, component_store: Store, tmp_path: Path
) -> None:
    await add_user(store, "jane", email="jane@example.org")
    settings = web_settings(db_dsn)
    config = write_config(tmp_path, owner_dsn)

    async def use(url: str) -> int:
        async with client_for(settings, component_store) as web:
            path = url.removeprefix("https://callbacks.test")
            page = await web.get(path)
            return (await web.post(path, data={"csrf": csrf_of(page.text)})).status_code

    emailed = await sign_in_link(store, settings, "jane@example.org")
    assert emailed
    await run(config, "user", "passwd", "jane", "--password-stdin", stdin=NEW_PASSWORD)
    assert await use(emailed) == 403
    emailed = await sign_in_link(store, settings, "jane@example.org")
    assert emailed
    await run(config, "user", "disable", "jane")
    await run(config, "user", "enable", "jane")
    assert await use(emailed) == 403
    # A link issued after all that works.
    emailed = await sign_in_link(store, settings, "jane@example.org")
    assert emailed and await use(emailed) == 303


async def test_an_idle_session_and_an_old_one_end_and_the_live_list_keeps_neither_alive(
    db_dsn: str, store: Store, component_store: Store
) -> None:
    await add_user(store, "jane")
    settings = web_settings(db_dsn)  # idle_minutes 30, session_minutes 12 h (the defaults)
    async with client_for(settings, component_store) as web:
        await sign_in(web, "jane")
        cookie = saved_cookie(web)
        # 29 minutes without a click, then a person's request: still signed in, seen now.
        await store.pool.execute("UPDATE web_sessions SET last_seen_at = now() - interval '29m'")
        assert (await web.get("/inbox/list")).status_code == 200
        # The live list's own re-reads (X-Live) do not count as use.
        await store.pool.execute("UPDATE web_sessions SET last_seen_at = now() - interval '29m'")
        assert (await web.get("/inbox/list", headers={"x-live": "1"})).status_code == 200
        seen = await store.pool.fetchval(
            "SELECT now() - last_seen_at > interval '28 minutes' FROM web_sessions"
        )
        assert seen, "a live re-read counted as use"
        await store.pool.execute("UPDATE web_sessions SET last_seen_at = now() - interval '31m'")
        assert (await web.get("/inbox/list")).status_code == 401
        assert await replay(settings, component_store, cookie) == 401
        # Used all along, but signed in 12 hours ago: over.
        await sign_in(web, "jane")
        await store.pool.execute(
            "UPDATE web_sessions SET created_at = now() - interval '12h 1m' WHERE ended_at IS NULL"
        )
        assert (await web.get("/inbox/list")).status_code == 401
    assert await ended_why(store) == ["idle", "expired"]


async def test_the_event_stream_of_an_ended_session_closes(
    db_dsn: str, store: Store, component_store: Store
) -> None:
    jane = await add_user(store, "jane")
    settings = web_settings(db_dsn)
    async with serving(settings, component_store) as base, httpx.AsyncClient(base_url=base) as c:
        # Over plain HTTP to 127.0.0.1 the Secure cookie is sent by hand, as a browser would.
        page = await c.get("/sign-in")
        anonymous = page.headers["set-cookie"].split(";", 1)[0]
        signed = await c.post(
            "/sign-in",
            data={"username": "jane", "password": PASSWORD, "csrf": csrf_of(page.text)},
            headers={"cookie": anonymous},
        )
        assert signed.status_code == 303
        cookie = signed.headers["set-cookie"].split(";", 1)[0]
        async with c.stream("GET", "/events", headers={"cookie": cookie}) as stream:
            assert stream.status_code == 200
            lines = stream.aiter_lines()
            assert await anext(lines) == "retry: 1000"
            await WebStore(component_store.pool).end_sessions(jane)
            seen = []
            # A safety net, not a timing assertion: the stream re-reads its session every few
            # seconds; without that check it would never end.
            async with asyncio.timeout(60):
                async for line in lines:
                    seen.append(line)
        assert "event: signed-out" in seen
