"""The callback inbox through an ASGI client (httpx), on a real PostgreSQL and a strict fake AMI.

Each security test performs the attack and checks it had no effect; each would fail if the
protection were taken out.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from callback_desk.core.config import Settings
from callback_desk.core.store import Store
from callback_desk.web.auth import Role
from callback_desk.web.links import sign_in_link
from callback_desk.web.settings import load
from callback_desk.web.store import WebStore
from callback_desk.web.views.base import SESSION_COOKIE
from fakes.ami_server import FakeAmi, Frame, frame
from tests.web_support import (
    PASSWORD,
    add_caller,
    add_user,
    browser,
    client_for,
    csrf_of,
    inbox_app,
    serving,
    sign_in,
    web_settings,
)

# The component under test connects with cbd_web's rights only (sql/grants.sql).
pytestmark = pytest.mark.db_role("cbd_web")

HTML = {"accept": "text/html"}


@pytest.fixture
async def web(
    db_dsn: str, component_store: Store, ami: FakeAmi
) -> AsyncIterator[httpx.AsyncClient]:
    # The app runs with cbd_web's rights (sql/grants.sql); set-up and checks use the owner's.
    async with client_for(web_settings(db_dsn, ami.port), component_store) as client:
        yield client


def originate_answers(ami: FakeAmi) -> None:
    def respond(action: Frame) -> list[str]:
        aid = action["actionid"]
        return [
            frame(Response="Success", ActionID=aid, Message="Originate successfully queued"),
            frame(
                Event="OriginateResponse",
                ActionID=aid,
                Response="Success",
                Channel=action["channel"],
                Reason="4",
                Uniqueid=action["channelid"],
            ),
        ]

    ami.responders["originate"] = respond


async def dispositions(store: Store) -> list[tuple[int, str, str]]:
    rows = await store.pool.fetch(
        "SELECT call_id, disposition, decided_by FROM caller_dispositions ORDER BY id"
    )
    return [(r["call_id"], r["disposition"], r["decided_by"]) for r in rows]


async def test_every_page_and_action_needs_a_session(web: httpx.AsyncClient, store: Store) -> None:
    call_id = await add_caller(store, "a", line="2001")
    page = await web.get("/", headers=HTML)
    assert page.status_code == 303 and page.headers["location"] == "/sign-in"
    for path in (
        "/inbox/list",
        "/events",
        "/week",
        f"/callers/{call_id}",
        f"/callers/{call_id}/never",
    ):
        assert (await web.get(path)).status_code == 401, path
    # Even with a valid CSRF token of an anonymous session, actions need a signed-in user.
    csrf = csrf_of((await web.get("/sign-in")).text)
    for action in ("call", "handled", "never"):
        reply = await web.post(f"/callers/{call_id}/{action}", data={"csrf": csrf})
        assert reply.status_code == 401, action
    assert await dispositions(store) == []


async def test_inbox_shows_my_lines_most_urgent_first_with_what_the_report_shows(
    web: httpx.AsyncClient, store: Store
) -> None:
    await add_user(store, "jane", extensions=("101",))
    once = await add_caller(store, "a", "2125550123", line="2001", name="Ann")
    await add_caller(store, "b1", "3125550188", line="2001", ago=timedelta(hours=3))
    twice = await add_caller(store, "b2", "3125550188", line="2001", ago=timedelta(hours=2))
    await add_caller(store, "c", "6465550100", line="2002", name="Other")
    reply = await sign_in(web, "jane")
    assert reply.status_code == 303
    page = (await web.get("/")).text
    assert "(212) 555-0123" in page and "Ann" in page and "(312) 555-0188" in page
    assert "(646) 555-0100" not in page and "Other" not in page  # Sam's line
    # Two calls before one: the most urgent first, as in the report.
    assert page.index(f'/callers/{twice}/call"') < page.index(f'/callers/{once}/call"')
    assert "2 calls" in page and "line 2001 → 101" in page
    assert "Hi, this is Jane, I think I missed a call from this number earlier." in page
    assert page.count("Call from my desk phone") == 2
    # The page title never carries a number or a name.
    title = re.search(r"<title>(.*?)</title>", page, re.S)
    assert title and title[1] == "Callback inbox"


async def test_front_desk_sees_every_line(web: httpx.AsyncClient, store: Store) -> None:
    await add_user(store, "desk", role="frontdesk", extensions=("100",))
    await add_caller(store, "a", "2125550123", line="2001")
    await add_caller(store, "c", "6465550100", line="2002")
    await sign_in(web, "desk")
    page = (await web.get("/")).text
    assert "(212) 555-0123" in page and "(646) 555-0100" in page


async def test_another_therapists_caller_is_refused_and_logged(
    web: httpx.AsyncClient, store: Store, ami: FakeAmi, caplog: pytest.LogCaptureFixture
) -> None:
    await add_user(store, "jane", extensions=("101",))
    sams = await add_caller(store, "c", "6465550100", line="2002", name="Sam's caller")
    await sign_in(web, "jane")
    csrf = csrf_of((await web.get("/")).text)
    with caplog.at_level(logging.WARNING, logger="callback_desk.web"):
        for action in ("call", "handled", "never"):
            reply = await web.post(f"/callers/{sams}/{action}", data={"csrf": csrf})
            assert reply.status_code == 404, action
        history = await web.get(f"/callers/{sams}")
        confirm = await web.get(f"/callers/{sams}/never")
    assert confirm.status_code == 404 and "555-0100" not in confirm.text
    assert history.status_code == 404 and "Sam&#39;s caller" not in history.text
    assert "6465550100" not in history.text
    assert await dispositions(store) == []
    assert ami.actions == []  # nothing was dialled
    refused = [r for r in caplog.records if getattr(r, "action", "") == "web_out_of_scope"]
    assert len(refused) == 5 and all("jane" in r.getMessage() for r in refused)
    audit = await store.pool.fetchval("SELECT count(*) FROM web_audit WHERE action = 'refused'")
    assert audit == 5


async def test_every_post_refuses_a_missing_or_wrong_csrf_token(
    db_dsn: str, store: Store, component_store: Store, ami: FakeAmi
) -> None:
    await add_user(store, "jane", extensions=("101",))
    mine = await add_caller(store, "a", line="2001")
    settings = web_settings(db_dsn, ami.port)
    async with client_for(settings, component_store) as other:
        foreign = csrf_of((await other.get("/sign-in")).text)  # a valid token of another browser
    async with client_for(settings, component_store) as web:
        await sign_in(web, "jane")
        for action in ("call", "handled", "never"):
            for data in ({}, {"csrf": "0" * 64}, {"csrf": foreign}):
                reply = await web.post(f"/callers/{mine}/{action}", data=data)
                assert reply.status_code == 403, (action, data)
        for path in ("/sign-out", "/sign-in"):
            reply = await web.post(path, data={"username": "jane", "password": PASSWORD})
            assert reply.status_code == 403, path
        assert (await web.get("/")).status_code == 200  # still signed in: sign-out was refused
    assert await dispositions(store) == []
    assert ami.actions == []


async def test_handled_and_never_leave_the_inbox_with_who_set_them(
    web: httpx.AsyncClient, store: Store
) -> None:
    await add_user(store, "jane", extensions=("101",))
    first = await add_caller(store, "a", "2125550123", line="2001")
    second = await add_caller(store, "b", "3125550188", line="2001")
    await sign_in(web, "jane")
    csrf = csrf_of((await web.get("/")).text)
    reply = await web.post(f"/callers/{first}/handled", data={"csrf": csrf})
    assert reply.status_code == 303 and reply.headers["location"] == "/?done=handled"
    # Never is for good: its button opens a page that asks; only that page's POST acts.
    confirm = await web.get(f"/callers/{second}/never")
    assert confirm.status_code == 200 and "(312) 555-0188" in confirm.text
    assert "Yes, never call back" in confirm.text and await dispositions(store) == [
        (first, "handled", "jane")
    ]
    await web.post(f"/callers/{second}/never", data={"csrf": csrf_of(confirm.text)})
    page = (await web.get("/")).text
    assert "Nobody is waiting for a callback." in page
    assert await dispositions(store) == [(first, "handled", "jane"), (second, "never", "jane")]
    history = (await web.get(f"/callers/{first}")).text
    assert "marked as handled by jane" in history


async def test_click_to_call_rings_my_desk_then_the_caller_through_the_strict_fake_ami(
    web: httpx.AsyncClient, store: Store, ami: FakeAmi
) -> None:
    originate_answers(ami)
    await add_user(store, "jane", extensions=("101",))
    call_id = await add_caller(store, "a", "2125550123", line="2001")
    await sign_in(web, "jane")
    csrf = csrf_of((await web.get("/")).text)
    # Another desk than one's own is refused before AMI hears of it.
    reply = await web.post(f"/callers/{call_id}/call", data={"csrf": csrf, "extension": "102"})
    assert reply.status_code == 403 and ami.actions == []
    reply = await web.post(f"/callers/{call_id}/call", data={"csrf": csrf})
    assert reply.status_code == 303 and reply.headers["location"] == "/?done=ringing"
    sent = [a for a in ami.actions if a.get("action") == "Originate"]
    assert len(sent) == 1
    assert sent[0]["channel"] == "PJSIP/101"
    assert sent[0]["context"] == "callback-desk-dial" and sent[0]["exten"] == str(call_id)
    history = (await web.get(f"/callers/{call_id}")).text
    assert "jane — call (desk 101)" in history
    # Marked handled elsewhere (another tab, a colleague) while this page was open: the button
    # still shows here, but the one callback policy refuses before AMI hears of it.
    await store.pool.execute(
        "INSERT INTO caller_dispositions (call_id, disposition, extension) "
        "VALUES ($1, 'handled', '100')",
        call_id,
    )
    reply = await web.post(f"/callers/{call_id}/call", data={"csrf": csrf})
    assert reply.status_code == 409 and "no longer awaiting a callback" in reply.text
    assert len([a for a in ami.actions if a.get("action") == "Originate"]) == 1


async def test_failures_make_the_client_wait_longer_each_time(
    db_dsn: str, store: Store, component_store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    """Four free tries, then 1 s, 2 s, 4 s, 8 s... before the next: a try during the wait is
    refused unchecked, even with the right password."""
    await add_user(store, "jane")
    now = [time.time()]
    async with client_for(web_settings(db_dsn), component_store, clock=lambda: now[0]) as web:
        for _ in range(4):
            assert (await sign_in(web, "jane", "wrong password")).status_code == 401
        waits = []
        for _ in range(5):
            assert (await sign_in(web, "jane", "wrong password")).status_code == 401
            refused = await sign_in(web, "jane")
            assert refused.status_code == 429 and "Too many failed attempts" in refused.text
            waits.append(int(refused.headers["retry-after"]))
            now[0] += waits[-1]
        assert waits == [1, 2, 4, 8, 16]
        assert (await web.get("/inbox/list")).status_code == 401
        # The wait over, the right password signs in.
        assert (await sign_in(web, "jane")).status_code == 303
    # Each wait that started or grew is logged (no password) and audited for admins.
    throttles = [
        r.getMessage() for r in caplog.records if getattr(r, "action", "") == "web_sign_in_throttle"
    ]
    assert len(throttles) == 5 and "wrong password" not in " ".join(throttles)
    assert "this client waits 16 s (9 failures)" in throttles[-1]
    rows = await WebStore(store.pool).sign_in_throttles()
    assert [r.username for r in rows] == ["jane"] * 5
    assert "this client waits 16 s" in rows[0].detail and "10.0.0.5" in rows[0].detail


async def test_an_attacker_hammering_an_account_never_locks_its_owner_out(
    db_dsn: str, store: Store, component_store: Store
) -> None:
    await add_user(store, "admin", role="admin")
    now = [time.time()]
    async with (
        inbox_app(web_settings(db_dsn), component_store, lambda: now[0]) as app,
        browser(app, "10.0.0.5") as attacker,
    ):
        failures = 0
        while failures < 20:
            reply = await sign_in(attacker, "admin", "guess")
            if reply.status_code == 429:
                now[0] += int(reply.headers["retry-after"])
            else:
                assert reply.status_code == 401
                failures += 1
        # The attacker's client is slowed down to the longest wait (lockout_minutes) ...
        reply = await sign_in(attacker, "admin", "guess")
        assert reply.status_code == 429 and reply.headers["retry-after"] == str(15 * 60)
        # ... and even the right password is not checked from there.
        assert (await sign_in(attacker, "admin")).status_code == 429
        # The admin, at a computer that has not failed, signs in at once.
        async with browser(app, "10.0.0.9") as admin:
            assert (await sign_in(admin, "admin")).status_code == 303
            assert (await admin.get("/inbox/list")).status_code == 200
        # Another client that failed once (anywhere) waits out the account's tally instead, so
        # fresh addresses buy one guess each, not five.
        async with browser(app, "10.0.0.7") as other:
            assert (await sign_in(other, "somebody", "guess")).status_code == 401
            reply = await sign_in(other, "admin")
            assert reply.status_code == 429 and int(reply.headers["retry-after"]) > 60


async def test_a_burst_of_concurrent_guesses_is_counted_before_any_is_checked(
    db_dsn: str, store: Store, component_store: Store
) -> None:
    import asyncio

    await add_user(store, "jane")
    async with client_for(web_settings(db_dsn), component_store) as web:
        page = await web.get("/sign-in")
        form = {"username": "jane", "password": "guess", "csrf": csrf_of(page.text)}
        replies = await asyncio.gather(*(web.post("/sign-in", data=form) for _ in range(20)))
    codes = sorted(r.status_code for r in replies)
    assert codes == [401] * 5 + [429] * 15


async def test_email_link_shows_a_button_and_only_the_post_signs_in_once(
    db_dsn: str, store: Store, component_store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    await add_user(store, "jane", email="jane@example.org")
    settings = web_settings(db_dsn)
    url = await sign_in_link(store, settings, "jane@example.org")
    assert url and url.startswith("https://callbacks.test/link/")
    assert await sign_in_link(store, settings, "nobody@example.org") is None
    path = url.removeprefix("https://callbacks.test")
    with caplog.at_level(logging.INFO, logger="callback_desk.web.access"):
        async with client_for(settings, component_store) as scanner:
            # A mail scanner fetching the link signs nobody in and consumes nothing.
            shown = await scanner.get(path)
            assert shown.status_code == 200 and "Open my inbox" in shown.text
            assert (await scanner.get("/inbox/list")).status_code == 401
        async with client_for(settings, component_store) as browser:
            shown = await browser.get(path)
            used = await browser.post(path, data={"csrf": csrf_of(shown.text)})
            assert used.status_code == 303 and used.headers["location"] == "/"
            assert (await browser.get("/inbox/list")).status_code == 200
            # Replayed: refused, even by the browser that used it (signing in made a new
            # session, so it needs the page's new CSRF token first).
            shown = await browser.get(path)
            again = await browser.post(path, data={"csrf": csrf_of(shown.text)})
            assert again.status_code == 403 and "used already" in again.text
    token = path.removeprefix("/link/")
    # The server's logs (not the test client's own, httpx logs what it requests).
    server = [r for r in caplog.records if r.name.startswith(("callback_desk", "uvicorn"))]
    assert any(r.getMessage() == "POST /link/{token} 303" for r in server)
    assert not any(token in r.getMessage() for r in server)


async def test_tampered_and_expired_links_are_refused(
    db_dsn: str, store: Store, component_store: Store
) -> None:
    await add_user(store, "jane", email="jane@example.org")
    settings = web_settings(db_dsn)
    url = await sign_in_link(store, settings, "jane@example.org")
    assert url
    path = url.removeprefix("https://callbacks.test")
    payload, _, signature = path.removeprefix("/link/").partition(".")
    forged = f"/link/{payload}.{signature[:-2]}{'AA' if signature[-2:] != 'AA' else 'BB'}"
    async with client_for(settings, component_store) as web:
        page = await web.get(forged)
        assert page.status_code == 403
        csrf = csrf_of((await web.get("/sign-in")).text)
        post = await web.post(forged, data={"csrf": csrf})
        assert post.status_code == 403 and (await web.get("/inbox/list")).status_code == 401
    later = time.time() + 12 * 3600 + 60  # [web] link_hours = 12
    async with client_for(settings, component_store, clock=lambda: later) as web:
        page = await web.get(path)
        assert page.status_code == 403 and "not valid any more" in page.text
        csrf = csrf_of((await web.get("/sign-in")).text)
        post = await web.post(path, data={"csrf": csrf})
        assert post.status_code == 403 and (await web.get("/inbox/list")).status_code == 401
    # The link was never consumed by those attempts: it still works once, now.
    async with client_for(settings, component_store) as web:
        page = await web.get(path)
        assert (await web.post(path, data={"csrf": csrf_of(page.text)})).status_code == 303


async def test_sessions_expire_and_a_new_password_signs_out_old_sessions(
    db_dsn: str, store: Store, component_store: Store
) -> None:
    await add_user(store, "jane")
    now = [time.time()]
    settings = web_settings(db_dsn, session_minutes=60)
    async with client_for(settings, component_store, clock=lambda: now[0]) as web:
        await sign_in(web, "jane")
        cookie = next(c for c in web.cookies.jar if c.name == SESSION_COOKIE)
        assert cookie.secure and cookie.has_nonstandard_attr("HttpOnly")
        assert (await web.get("/inbox/list")).status_code == 200
        now[0] += 3601
        assert (await web.get("/inbox/list")).status_code == 401
        now[0] = time.time()
        await sign_in(web, "jane")
        assert (await web.get("/inbox/list")).status_code == 200
        await store.pool.execute(
            "UPDATE web_users SET password_changed_at = now() + interval '1 second'"
        )
        assert (await web.get("/inbox/list")).status_code == 401
        await sign_in(web, "jane")
        await store.pool.execute("UPDATE web_users SET disabled = true")
        assert (await web.get("/inbox/list")).status_code == 401


async def test_session_cookie_attributes(web: httpx.AsyncClient, store: Store) -> None:
    await add_user(store, "jane")
    reply = await sign_in(web, "jane")
    cookie = reply.headers["set-cookie"]
    assert "HttpOnly" in cookie and "Secure" in cookie and "SameSite=strict" in cookie
    assert cookie.startswith("__Host-") and "Path=/" in cookie and "Domain" not in cookie
    assert "Max-Age=43200" in cookie  # [web] session_minutes default: 12 h
    forged = web.cookies[SESSION_COOKIE][:-3] + "abc"
    web.cookies.set(SESSION_COOKIE, forged, domain="inbox.test")
    assert (await web.get("/inbox/list")).status_code == 401


async def test_hostile_caller_names_are_rendered_inert(
    web: httpx.AsyncClient, store: Store
) -> None:
    await add_user(store, "jane")
    hostile = '<script>alert(1)</script>"><img src=x onerror=alert(2)>\u202eevil'
    call_id = await add_caller(store, "a", line="2001", name=hostile)
    await sign_in(web, "jane")
    for path in ("/", "/inbox/list", f"/callers/{call_id}"):
        page = (await web.get(path)).text
        assert "<script>alert" not in page and "<img src=x" not in page, path
        assert "&lt;script&gt;alert(1)&lt;/script&gt;&#34;&gt;&lt;img" in page, path
        assert "\u202e" not in page and "\ufffdevil" in page, path


async def test_every_response_is_not_cached_and_has_a_strict_csp(
    web: httpx.AsyncClient, store: Store
) -> None:
    await add_user(store, "jane")
    await sign_in(web, "jane")
    for path in ("/", "/sign-in", "/week", "/static/inbox.css", "/no-such-page", "/callers/999"):
        reply = await web.get(path)
        assert reply.headers["cache-control"] == "no-store", path
        csp = reply.headers["content-security-policy"]
        assert "default-src 'none'" in csp and "script-src 'self'" in csp, path
        assert "unsafe-inline" not in csp and "http" not in csp, path
        assert reply.headers["x-frame-options"] == "DENY"
    page = (await web.get("/")).text
    # The only script is our own file: nothing inline, nothing from another host.
    assert re.findall(r"<script[^>]*>", page) == ['<script src="/static/inbox.js" defer>']
    assert "style=" not in page and "//" not in re.sub(r"https?://callbacks\.test", "", page)


async def test_access_log_carries_no_number_name_or_token(
    web: httpx.AsyncClient, store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    await add_user(store, "jane")
    call_id = await add_caller(store, "a", "2125550123", line="2001", name="Ann Example")
    with caplog.at_level(logging.DEBUG):
        await sign_in(web, "jane")
        csrf = csrf_of((await web.get("/")).text)
        await web.get(f"/callers/{call_id}")
        await web.post(f"/callers/{call_id}/handled", data={"csrf": csrf})
        await web.get("/week")
    access = [r.getMessage() for r in caplog.records if r.name == "callback_desk.web.access"]
    assert "GET /callers/{call_id:id} 200" in access
    assert "POST /callers/{call_id:id}/handled 303" in access
    everything = "\n".join(r.getMessage() for r in caplog.records if r.name != "httpx")
    for secret in ("5550123", "555-0123", "Ann Example", PASSWORD):
        assert secret not in everything


async def test_history_is_read_only_and_lists_calls_attempts_and_decisions(
    web: httpx.AsyncClient, store: Store
) -> None:
    await add_user(store, "jane", extensions=("101",))
    first = await add_caller(store, "a", "2125550123", line="2001", ago=timedelta(hours=5))
    second = await add_caller(store, "b", "2125550123", line="2001", ago=timedelta(hours=2))
    await store.pool.execute(
        "INSERT INTO callback_attempts (call_id, extension, started_at, ended_at, dial_status) "
        "VALUES ($1, '101', now() - interval '3 hours', now() - interval '3 hours', 'NOANSWER')",
        first,
    )
    await sign_in(web, "jane")
    page = (await web.get(f"/callers/{second}")).text
    assert page.count("<tr>") >= 3  # two calls and one attempt (plus headers)
    assert "NOANSWER" in page and "jane" in page and "hangup while ringing" in page
    assert "<form" not in page.split("</header>", 1)[1]  # nothing to edit here
    # No route edits or deletes the audit trail.
    for method in ("PUT", "PATCH", "DELETE"):
        reply = await web.request(method, f"/callers/{second}")
        assert reply.status_code in (404, 405)


@pytest.mark.parametrize(
    ("username", "role", "extension", "darkest", "half"),
    [
        # The front desk hears every line: the busy hour holds two callers, the other one.
        ("desk", "frontdesk", "100", 1, 1),
        # A therapist's week is their lines' (Jane: 2001): one caller in each hour.
        ("jane", "therapist", "101", 2, 0),
    ],
)
async def test_week_page_is_drawn_from_the_report_on_my_lines(
    web: httpx.AsyncClient,
    store: Store,
    username: str,
    role: Role,
    extension: str,
    darkest: int,
    half: int,
) -> None:
    await add_user(store, username, role=role, extensions=(extension,))
    # Two callers in one hour of the heat map (half past, well clear of its edges), a third two
    # hours earlier: the busiest cell is the darkest, the other half as dark.
    now = datetime.now(UTC)
    busy = now.replace(minute=30, second=0, microsecond=0) - timedelta(hours=3)
    await add_caller(store, "a", "2125550123", line="2001", ago=now - busy)
    await add_caller(store, "b", "3125550188", line="2002", ago=now - busy)
    await add_caller(store, "c", "4155550177", line="2001", ago=now - busy + timedelta(hours=2))
    await sign_in(web, username)
    page = (await web.get("/week")).text
    seen = darkest + half * 2
    assert f"<strong>{seen}</strong> missed calls from <strong>{seen}</strong> callers" in page
    assert page.count('class="l4"') == darkest and page.count('class="l2"') == half
    assert page.count('class="l1"') == page.count('class="l3"') == 0
    assert f"Callers who never got through: <strong>{seen}</strong>" in page


def test_web_settings_name_the_key_that_is_wrong(tmp_path: Path) -> None:
    from callback_desk.core.exceptions import ConfigError
    from callback_desk.web.settings import load

    sample = Path(__file__).resolve().parents[2] / "deploy" / "callback-desk.toml.sample"
    secret = tmp_path / "web.secret"
    secret.write_text("s" * 40 + "\n")
    secret.chmod(0o640)
    env = {"CALLBACK_DESK_WEB_SECRET_FILE": str(secret)}
    ws = load(Settings.load(sample, environ=env))
    assert (ws.host, ws.port, ws.public_url) == ("127.0.0.1", 8047, "https://callbacks.example.org")
    assert ws.require_secret().reveal() == "s" * 40
    cases: list[tuple[dict[str, Any], str]] = [
        ({"secret": "short"}, "at least 32"),
        ({"public_url": "callbacks.example.org"}, "public_url"),
        ({"secret_file": str(tmp_path / "missing")}, "secret_file"),
        ({"port": 70000}, "port"),
        ({"link_hours": 73}, "72 hours at most"),
        ({"colour": "blue"}, "unknown key 'colour'"),
        ({"trusted_proxies": ["*"]}, "not an address or a network"),
    ]
    for web, words in cases:
        with pytest.raises(ConfigError, match=words):
            load(web_settings("postgresql://unused/", **web))
    # A signing key any local user can read lets them forge sessions and sign-in links.
    secret.chmod(0o644)
    with pytest.raises(ConfigError, match="readable by every local user"):
        load(Settings.load(sample, environ=env))
    with pytest.raises(ConfigError, match=r"\[web\] secret is required"):
        load(Settings.from_mapping({"database": {"dsn": "x"}}, environ={})).require_secret()


async def test_forwarded_addresses_count_only_from_a_trusted_proxy(
    db_dsn: str, store: Store, component_store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    """A local process that talks to the port directly must not dodge the sign-in limit with a
    made-up X-Forwarded-For: by default no proxy is believed."""
    await add_user(store, "jane")
    now = [time.time()]

    async def attempt(base: str, forwarded: str, username: str, password: str) -> int:
        async with httpx.AsyncClient(base_url=base) as client:
            page = await client.get("/sign-in")
            cookie = page.headers["set-cookie"].split(";", 1)[0]
            reply = await client.post(
                "/sign-in",
                data={"username": username, "password": password, "csrf": csrf_of(page.text)},
                headers={"cookie": cookie, "x-forwarded-for": forwarded},
            )
            return reply.status_code

    # max_failures=1: the first failure makes the client wait.
    settings = web_settings(db_dsn, max_failures=1)
    assert load(settings).trusted_proxies == ()
    # As configured by default (no trusted proxy): every made-up address is this client's.
    async with serving(settings, component_store, clock=lambda: now[0]) as base:
        assert await attempt(base, "198.51.100.1", "guess1", "wrong password") == 401
        assert await attempt(base, "198.51.100.2", "guess2", "wrong password") == 429
        assert await attempt(base, "198.51.100.99", "jane", PASSWORD) == 429
    # Said once (a proxy nobody listed, e.g. after an upgrade from the old default).
    ignored = [r for r in caplog.records if getattr(r, "action", "") == "web_forwarded_ignored"]
    assert len(ignored) == 1 and "127.0.0.1" in ignored[0].getMessage()
    now[0] += 3600
    # Behind a configured proxy (127.0.0.1 here), the forwarded address is the client's.
    proxied = web_settings(db_dsn, max_failures=1, trusted_proxies=["127.0.0.1"])
    async with serving(
        proxied, component_store, trusted=load(proxied).trusted_proxies, clock=lambda: now[0]
    ) as base:
        assert await attempt(base, "198.51.100.7", "guess1", "wrong password") == 401
        assert await attempt(base, "198.51.100.7", "jane", PASSWORD) == 429
        assert await attempt(base, "198.51.100.8", "jane", PASSWORD) == 303
