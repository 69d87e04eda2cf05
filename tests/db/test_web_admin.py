"""The admin pages (callback_desk/web/views/admin.py, sql/0012_admin.sql): an admin lists, adds,
changes, disables and enables users, hands out one-time password links and signs people out
everywhere; everyone else is refused, in the inbox and again in the database.

The inbox runs with cbd_web's rights on a real PostgreSQL, so every change goes through the
functions of sql/0012_admin.sql or fails.
"""

from __future__ import annotations

import re

import asyncpg
import httpx
import pytest

from callback_desk.core.store import Store
from callback_desk.web.auth import Role
from callback_desk.web.store import THROTTLED, WebStore
from tests.conftest import as_role
from tests.db.test_web_sessions import replay, signed_in_cookie
from tests.web_support import (
    PASSWORD,
    add_user,
    client_for,
    csrf_of,
    sign_in,
    web_settings,
)

pytestmark = pytest.mark.db_role("cbd_web")

NEW_PASSWORD = "a password of my own"


async def post(web: httpx.AsyncClient, path: str, **data: str) -> httpx.Response:
    """A POST with this browser's CSRF token, as the page's form sends it."""
    page = await web.get("/")
    return await web.post(path, data={"csrf": csrf_of(page.text), **data})


def link_on(page: str) -> str:
    found = re.search(r"https://callbacks\.test(/password/[^<\s]+)", page)
    assert found, "no password link on the page"
    return found[1]


async def audit(store: Store) -> list[tuple[str, str, str]]:
    rows = await store.pool.fetch("SELECT username, action, detail FROM web_audit ORDER BY id")
    return [(r["username"], r["action"], r["detail"]) for r in rows]


async def user_row(store: Store, username: str) -> asyncpg.Record:
    row = await store.pool.fetchrow("SELECT * FROM web_users WHERE username = $1", username)
    assert row is not None
    return row


async def test_an_admin_sees_every_user_with_role_desks_state_and_last_seen(
    db_dsn: str, store: Store, component_store: Store
) -> None:
    await add_user(store, "boss", role="admin", extensions=())
    await add_user(store, "jane")
    await add_user(store, "front", role="frontdesk", extensions=("100",))
    await store.pool.execute("UPDATE web_users SET disabled = true WHERE username = 'front'")
    # A wait the sign-in limit set (callback_desk/web/auth.py), as it audits one.
    await WebStore(store.pool).audit("jane", THROTTLED, None, "client 10.0.0.66 waits 4 s")
    settings = web_settings(db_dsn)
    async with client_for(settings, component_store) as jane:
        await sign_in(jane, "jane")
    async with client_for(settings, component_store) as web:
        await sign_in(web, "boss")
        inbox = await web.get("/")
        assert 'href="/admin/users"' in inbox.text
        page = await web.get("/admin/users")
    assert page.status_code == 200
    text = re.sub(r"\s+", " ", page.text)
    assert "jane</a> <span>therapist</span> <span>desk 101</span> <span>enabled, signed in" in text
    assert "front</a> <span>frontdesk</span> <span>desk 100</span> <span>disabled</span>" in text
    assert text.count("last seen never") == 1  # front never signed in; jane and boss did
    assert "<title>Users — Callback inbox</title>" in text
    assert text.count(": jane: client 10.0.0.66 waits 4 s</li>") == 1


async def test_a_new_user_sets_their_own_password_with_a_one_time_link(
    db_dsn: str, store: Store, component_store: Store
) -> None:
    await add_user(store, "boss", role="admin", extensions=())
    settings = web_settings(db_dsn)
    async with client_for(settings, component_store) as web:
        await sign_in(web, "boss")
        added = await post(
            web,
            "/admin/users",
            username="Ana",
            role="therapist",
            extensions="102, 101",
            email="ana@example.org",
        )
    assert added.status_code == 200, added.text
    link = link_on(added.text)
    ana = await user_row(store, "ana")
    assert (ana["role"], ana["extensions"], ana["email"]) == (
        "therapist",
        ["102", "101"],
        "ana@example.org",
    )
    async with client_for(settings, component_store, ip="10.0.0.7") as browser:
        # No password works before the link is used: the admin never knew one.
        assert (await sign_in(browser, "ana", PASSWORD)).status_code == 401
        page = await browser.get(link)
        assert page.status_code == 200 and 'value="ana"' in page.text
        short = await browser.post(
            link, data={"csrf": csrf_of(page.text), "password": "short", "again": "short"}
        )
        assert short.status_code == 400
        done = await browser.post(
            link,
            data={"csrf": csrf_of(page.text), "password": NEW_PASSWORD, "again": NEW_PASSWORD},
        )
        assert done.status_code == 303 and done.headers["location"] == "/"
        assert (await browser.get("/inbox/list")).status_code == 200
        # Used once: the same link again sets nothing.
        again = await browser.post(
            link,
            data={"csrf": csrf_of(page.text), "password": "x" * 12, "again": "x" * 12},
        )
        assert again.status_code == 403
    async with client_for(settings, component_store) as web:
        assert (await sign_in(web, "ana", NEW_PASSWORD)).status_code == 303
    async with client_for(settings, component_store) as web:
        await sign_in(web, "boss")
        taken = await post(web, "/admin/users", username="ana", role="frontdesk", extensions="")
        assert taken.status_code == 409 and "There is a user ana already." in taken.text
        bad = await post(web, "/admin/users", username="Bad Name", role="frontdesk")
        assert bad.status_code == 400 and "The user name must be" in bad.text
        bad = await post(web, "/admin/users", username="bo", role="owner")
        assert bad.status_code == 400 and "must be one of therapist, frontdesk, admin" in bad.text
        bad = await post(web, "/admin/users", username="bo", role="therapist", extensions="")
        assert bad.status_code == 400 and "A therapist needs desk" in bad.text
        assert (await web.get(f"/admin/users/{2**63}")).status_code == 404
        assert (await web.get("/admin/users/999")).status_code == 404
    assert await store.pool.fetchval("SELECT count(*) FROM web_users") == 2
    assert ("boss", "user added", "ana: therapist, desk 102, 101") in await audit(store)
    assert ("ana", "password set", "with a link") in await audit(store)


async def test_a_password_link_is_no_sign_in_link_and_an_email_link_sets_no_password(
    db_dsn: str, store: Store, component_store: Store
) -> None:
    await add_user(store, "boss", role="admin", extensions=())
    jane = await add_user(store, "jane")
    settings = web_settings(db_dsn)
    async with client_for(settings, component_store) as web:
        await sign_in(web, "boss")
        made = await post(web, f"/admin/users/{jane}/password-link")
    link = link_on(made.text)
    token = link.removeprefix("/password/")
    async with client_for(settings, component_store, ip="10.0.0.7") as browser:
        page = await browser.get(f"/link/{token}")
        assert page.status_code == 403  # signed for another purpose
    # And the row itself: the function that spends sign-in links does not spend a password link.
    jti = await store.pool.fetchval("SELECT jti FROM web_sign_in_links WHERE purpose = 'password'")
    assert await component_store.pool.fetchval("SELECT consume_sign_in_link($1)", jti) is None
    assert await store.pool.fetchval("SELECT used_at FROM web_sign_in_links") is None


async def test_an_admin_changes_role_desks_and_email(
    db_dsn: str, store: Store, component_store: Store
) -> None:
    await add_user(store, "boss", role="admin", extensions=())
    jane = await add_user(store, "jane")
    settings = web_settings(db_dsn)
    async with client_for(settings, component_store) as web:
        await sign_in(web, "boss")
        page = await web.get(f"/admin/users/{jane}")
        assert page.status_code == 200 and "<h1>jane</h1>" in page.text
        bad = await post(web, f"/admin/users/{jane}", role="therapist", extensions="")
        assert bad.status_code == 400 and "A therapist needs desk" in bad.text
        bad = await post(web, f"/admin/users/{jane}", role="therapist", extensions="10x")
        assert bad.status_code == 400
        done = await post(
            web, f"/admin/users/{jane}", role="frontdesk", extensions="100 102", email=""
        )
        assert done.status_code == 303
        assert done.headers["location"] == f"/admin/users/{jane}?done=changed"
        assert (await web.get(done.headers["location"])).text.count("Saved.") == 1
    row = await user_row(store, "jane")
    assert (row["role"], row["extensions"]) == ("frontdesk", ["100", "102"])
    assert ("boss", "user changed", "jane frontdesk, desk 100, 102") in await audit(store)


async def test_disabling_ends_a_users_sessions_and_enabling_revives_none(
    db_dsn: str, store: Store, component_store: Store
) -> None:
    await add_user(store, "boss", role="admin", extensions=())
    jane = await add_user(store, "jane")
    settings = web_settings(db_dsn)
    cookie = await signed_in_cookie(settings, component_store, "jane", "10.0.0.2")
    async with client_for(settings, component_store) as web:
        await sign_in(web, "boss")
        assert (await post(web, f"/admin/users/{jane}/disable")).status_code == 303
        assert await replay(settings, component_store, cookie) == 401
        assert (await post(web, f"/admin/users/{jane}/enable")).status_code == 303
    assert await replay(settings, component_store, cookie) == 401
    async with client_for(settings, component_store) as web:
        assert (await sign_in(web, "jane")).status_code == 303
    actions = [a[1] for a in await audit(store)]
    assert actions == ["user disabled", "user enabled"]


async def test_a_password_reset_link_replaces_the_password_and_ends_old_sessions(
    db_dsn: str, store: Store, component_store: Store
) -> None:
    await add_user(store, "boss", role="admin", extensions=())
    jane = await add_user(store, "jane")
    settings = web_settings(db_dsn)
    cookie = await signed_in_cookie(settings, component_store, "jane", "10.0.0.2")
    async with client_for(settings, component_store) as web:
        await sign_in(web, "boss")
        first = link_on((await post(web, f"/admin/users/{jane}/password-link")).text)
        second = link_on((await post(web, f"/admin/users/{jane}/password-link")).text)
    # Until the link is used, the old password still works.
    assert await replay(settings, component_store, cookie) == 200
    async with client_for(settings, component_store, ip="10.0.0.7") as browser:
        page = await browser.get(first)
        form = {"csrf": csrf_of(page.text), "password": NEW_PASSWORD, "again": NEW_PASSWORD}
        # A newer link voids the older one.
        assert (await browser.post(first, data=form)).status_code == 403
        assert (await browser.post(second, data=form)).status_code == 303
    assert await replay(settings, component_store, cookie) == 401
    async with client_for(settings, component_store) as web:
        assert (await sign_in(web, "jane", PASSWORD)).status_code == 401
        assert (await sign_in(web, "jane", NEW_PASSWORD)).status_code == 303


async def test_an_admin_signs_a_user_out_everywhere_from_the_page(
    db_dsn: str, store: Store, component_store: Store
) -> None:
    await add_user(store, "boss", role="admin", extensions=())
    jane = await add_user(store, "jane")
    settings = web_settings(db_dsn)
    cookies = [
        await signed_in_cookie(settings, component_store, "jane", ip)
        for ip in ("10.0.0.1", "10.0.0.2")
    ]
    async with client_for(settings, component_store) as web:
        await sign_in(web, "boss")
        done = await post(web, f"/admin/users/{jane}/sign-out")
        assert done.headers["location"] == f"/admin/users/{jane}?done=signed-out"
        page = await web.get(done.headers["location"])
        assert page.text.count("(everywhere)") == 2
    for cookie in cookies:
        assert await replay(settings, component_store, cookie) == 401
    assert ("boss", "signed out everywhere", "jane: 2 sessions") in await audit(store)


ADMIN_POSTS = [
    ("/admin/users", {"username": "mole", "role": "admin", "extensions": ""}),
    ("/admin/users/{boss}", {"role": "therapist", "extensions": "101"}),
    ("/admin/users/{boss}/disable", {}),
    ("/admin/users/{boss}/password-link", {}),
    ("/admin/users/{boss}/sign-out", {}),
]


@pytest.mark.parametrize("role", ["therapist", "frontdesk"])
async def test_anyone_but_an_admin_gets_no_admin_page_and_changes_nobody(
    db_dsn: str, store: Store, component_store: Store, role: Role
) -> None:
    boss = await add_user(store, "boss", role="admin", extensions=())
    await add_user(store, "jane", role=role)
    settings = web_settings(db_dsn)
    before = await store.pool.fetch("SELECT * FROM web_users ORDER BY id")
    async with client_for(settings, component_store) as web:
        await sign_in(web, "jane")
        assert 'href="/admin/users"' not in (await web.get("/")).text
        for path in ("/admin/users", f"/admin/users/{boss}"):
            assert (await web.get(path)).status_code == 404
        for path, data in ADMIN_POSTS:
            answer = await post(web, path.format(boss=boss), **data)
            assert answer.status_code == 404, path
    assert await store.pool.fetch("SELECT * FROM web_users ORDER BY id") == before
    assert await store.pool.fetchval("SELECT count(*) FROM web_sign_in_links") == 0
    refused = [a for a in await audit(store) if a[1] == "refused"]
    assert len(refused) == 2 + len(ADMIN_POSTS)


async def test_admin_actions_without_the_csrf_token_are_refused(
    db_dsn: str, store: Store, component_store: Store
) -> None:
    boss = await add_user(store, "boss", role="admin", extensions=())
    jane = await add_user(store, "jane")
    settings = web_settings(db_dsn)
    before = await store.pool.fetch("SELECT * FROM web_users ORDER BY id")
    async with client_for(settings, component_store) as web:
        await sign_in(web, "boss")
        for path, data in ADMIN_POSTS:
            target = path.format(boss=jane)
            assert (await web.post(target, data=data)).status_code == 403
            forged = await web.post(target, data={**data, "csrf": "0" * 64})
            assert forged.status_code == 403
    assert await store.pool.fetch("SELECT * FROM web_users ORDER BY id") == before
    assert (
        await store.pool.fetchval(
            "SELECT count(*) FROM web_sessions WHERE ended_at IS NULL AND user_id = $1", boss
        )
        == 1
    )


async def test_the_last_enabled_admin_can_neither_be_disabled_nor_demoted(
    db_dsn: str, store: Store, component_store: Store
) -> None:
    boss = await add_user(store, "boss", role="admin", extensions=())
    settings = web_settings(db_dsn)
    async with client_for(settings, component_store) as web:
        await sign_in(web, "boss")
        refused = await post(web, f"/admin/users/{boss}/disable")
        assert refused.status_code == 409 and "no enabled admin left" in refused.text
        refused = await post(web, f"/admin/users/{boss}", role="frontdesk", extensions="")
        assert refused.status_code == 409
        assert (await web.get("/admin/users")).status_code == 200
        # With a second admin, one may step down, and disabling oneself signs one out.
        second = await add_user(store, "deputy", role="admin", extensions=())
        # Stepping down leaves the admin pages: the redirect goes to the inbox.
        stepped = await post(web, f"/admin/users/{boss}", role="frontdesk", extensions="")
        assert stepped.headers["location"] == "/"
        assert (await web.get("/admin/users")).status_code == 404
        async with client_for(settings, component_store, ip="10.0.0.3") as deputy:
            await sign_in(deputy, "deputy")
            back = await post(deputy, f"/admin/users/{boss}", role="admin", extensions="")
            assert back.status_code == 303
        assert (await post(web, f"/admin/users/{boss}/disable")).headers["location"] == "/sign-in"
        assert (await web.get("/inbox/list")).status_code == 401
    row = await user_row(store, "boss")
    assert (row["role"], row["disabled"]) == ("admin", True)
    # The remaining admin is the last one now: the database keeps them.
    async with client_for(settings, component_store) as web:
        await sign_in(web, "deputy")
        assert (await post(web, f"/admin/users/{second}/disable")).status_code == 409
    assert [a[1:] for a in await audit(store) if a[1] == "refused"] == [
        ("refused", "user disabled boss: last admin"),
        ("refused", "user changed boss: last admin"),
        ("refused", "admin page"),  # boss, once a front desk
        ("refused", "user disabled deputy: last admin"),
    ]


async def test_the_database_refuses_user_changes_for_anyone_but_a_signed_in_admin(
    owner_dsn: str, store: Store
) -> None:
    """cbd_web itself, bypassing the inbox's checks: the functions act for the admin of an open
    session only."""
    boss = await add_user(store, "boss", role="admin", extensions=())
    jane = await add_user(store, "jane")
    web = await asyncpg.connect(as_role(owner_dsn, "cbd_web"))
    try:
        assert await web.fetchval("SELECT web_session_start($1, $2, '')", "j" * 20, jane)
        # A therapist's session; a session that was never started; an ended admin session.
        assert await web.fetchval("SELECT web_session_start($1, $2, '')", "e" * 20, boss)
        assert await web.fetchval("SELECT web_session_sign_out($1)", "e" * 20)
        for session in ("j" * 20, "b" * 20, "e" * 20):
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await web.fetchval("SELECT web_admin_set_disabled($1, $2, true)", session, jane)
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await web.fetchval(
                    "SELECT web_admin_change_user($1, $2, 'admin', '{}', '')", session, jane
                )
        # Signed in, the admin may; a link for longer than 3 days is refused.
        assert await web.fetchval("SELECT web_session_start($1, $2, '')", "b" * 20, boss)
        assert (
            await web.fetchval("SELECT web_admin_set_disabled($1, $2, true)", "b" * 20, jane)
            == "changed"
        )
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await web.fetchval(
                "SELECT web_admin_password_link($1, $2, 'j', now() + interval '4 days')",
                "b" * 20,
                boss,
            )
    finally:
        await web.close()
