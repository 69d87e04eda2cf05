"""Hostile input to a real ``callback-desk web`` (uvicorn on a real socket, a real PostgreSQL):
a NUL byte in any form field, call ids past 2^63, negative or not numbers, form bodies that are
not UTF-8, overlong fields. Each gets a 400 or a 404 and one log line saying what was wrong,
never a 500 or a traceback (issue 16)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest

from callback_desk.core.store import Store
from tests.web_support import PASSWORD, add_caller, add_user, csrf_of, serving, web_settings

pytestmark = pytest.mark.db_role("cbd_web")

FORM = {"content-type": "application/x-www-form-urlencoded"}


@dataclass
class Browser:
    """A browser on plain HTTP to 127.0.0.1, sending its Secure cookie by hand as a browser does
    for a local address."""

    client: httpx.AsyncClient
    cookie: str = ""
    csrf: str = ""

    async def open(self, path: str = "/sign-in") -> httpx.Response:
        page = await self.client.get(path, headers={"cookie": self.cookie})
        if "set-cookie" in page.headers:
            self.cookie = page.headers["set-cookie"].split(";", 1)[0]
        if 'name="csrf"' in page.text:
            self.csrf = csrf_of(page.text)
        return page

    async def post(self, path: str, body: bytes, content_type: str = FORM["content-type"]) -> int:
        reply = await self.client.post(
            path, content=body, headers={"cookie": self.cookie, "content-type": content_type}
        )
        return reply.status_code

    async def sign_in(self, username: str) -> None:
        await self.open()
        body = f"username={username}&password={PASSWORD.replace(' ', '+')}&csrf={self.csrf}"
        reply = await self.client.post(
            "/sign-in", content=body.encode(), headers={"cookie": self.cookie, **FORM}
        )
        assert reply.status_code == 303, reply.text
        self.cookie = reply.headers["set-cookie"].split(";", 1)[0]
        await self.open("/")


@pytest.fixture
async def browser(
    db_dsn: str, store: Store, component_store: Store, caplog: pytest.LogCaptureFixture
) -> AsyncIterator[Browser]:
    await add_user(store, "jane")
    async with serving(web_settings(db_dsn), component_store) as base:
        async with httpx.AsyncClient(base_url=base) as client:
            yield Browser(client)
    # Whatever the test sent, nothing reached the server's error path.
    assert not [r for r in caplog.records if r.exc_info], "a traceback was logged"
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def warnings(caplog: pytest.LogCaptureFixture, action: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if getattr(r, "action", "") == action]


@pytest.mark.parametrize(
    "field",
    ["username=ja%00ne&password=x", "username=jane&password=x%00y", "username=jane%00"],
)
async def test_a_nul_byte_in_a_sign_in_field_is_a_400(
    browser: Browser, caplog: pytest.LogCaptureFixture, field: str
) -> None:
    await browser.open()
    status = await browser.post("/sign-in", f"{field}&csrf={browser.csrf}".encode())
    assert status == 400
    assert len(warnings(caplog, "web_bad_form")) == 1
    # Not a failed sign-in: nothing was checked.
    assert not warnings(caplog, "web_sign_in_failed")


async def test_a_nul_byte_in_a_signed_in_form_is_a_400(
    browser: Browser, store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    call = await add_caller(store, "c1")
    await browser.sign_in("jane")
    for path, field in [
        ("/", "digits=555%00"),
        ("/inbox/list", "page=1%00"),
        (f"/callers/{call}/call", "extension=101%00"),
        (f"/callers/{call}/handled", "note=%00"),
    ]:
        body = f"{field}&csrf={browser.csrf}".encode()
        assert await browser.post(path, body) == 400, path
    assert len(warnings(caplog, "web_bad_form")) == 4
    # Nothing was done to the caller.
    assert await store.pool.fetchval("SELECT count(*) FROM caller_dispositions") == 0


@pytest.mark.parametrize(
    "body",
    [
        b"username=%FF%FEjane&password=x",  # percent-encoded bytes that are not UTF-8
        b"username=\xff\xfejane&password=x",  # raw bytes that are not UTF-8
        b"username=jane&password=\xc3",  # a UTF-8 sequence cut short
        b"username=" + b"j" * 2000 + b"&password=x",  # overlong fields
        b"username=jane&password=" + b"p" * 5000,
        b"username=jane&password=x&" + b"&".join(b"f%d=1" % n for n in range(200)),  # too many
    ],
)
async def test_a_form_that_is_not_utf8_or_overlong_is_a_400(
    browser: Browser, caplog: pytest.LogCaptureFixture, body: bytes
) -> None:
    await browser.open()
    assert await browser.post("/sign-in", body + b"&csrf=" + browser.csrf.encode()) == 400
    assert len(warnings(caplog, "web_bad_form")) == 1


async def test_a_huge_body_is_refused_before_it_is_read(
    browser: Browser, caplog: pytest.LogCaptureFixture
) -> None:
    await browser.open()
    body = b"username=jane&password=" + b"p" * (4 << 20)
    assert await browser.post("/sign-in", body) in (400, 413)
    assert len(warnings(caplog, "web_bad_form")) == 1


async def test_a_multipart_form_is_a_400(
    browser: Browser, caplog: pytest.LogCaptureFixture
) -> None:
    await browser.open()
    body = (
        b'--b\r\nContent-Disposition: form-data; name="username"; filename="x"\r\n\r\njane\r\n'
        b'--b\r\nContent-Disposition: form-data; name="csrf"\r\n\r\n'
        + browser.csrf.encode()
        + b"\r\n--b--\r\n"
    )
    assert await browser.post("/sign-in", body, "multipart/form-data; boundary=b") == 400
    assert len(warnings(caplog, "web_bad_form")) == 1


@pytest.mark.parametrize(
    "call_id",
    [
        str(2**63),  # one past bigint
        str(2**64 + 5),
        "9" * 400,
        "-1",
        "abc",
        "1e3",
        "0x10",
        "%00",
        "\uff11\uff12",  # full-width digits
        "9" * 5000,  # past what Python's int() reads
    ],
)
async def test_a_call_id_that_cannot_be_one_is_a_404(
    browser: Browser, caplog: pytest.LogCaptureFixture, call_id: str
) -> None:
    await browser.sign_in("jane")
    reply = await browser.client.get(f"/callers/{call_id}", headers={"cookie": browser.cookie})
    assert reply.status_code == 404
    for action in ("call", "handled", "never"):
        body = f"csrf={browser.csrf}".encode()
        assert await browser.post(f"/callers/{call_id}/{action}", body) == 404
    # A path that matches no route is the access log's line; an id past a bigint has its own.
    past_bigint = call_id.isascii() and call_id.isdigit() and len(call_id) <= 19
    assert len(warnings(caplog, "web_bad_id")) == (4 if past_bigint else 0)


async def test_the_largest_bigint_is_a_plain_404(browser: Browser) -> None:
    await browser.sign_in("jane")
    reply = await browser.client.get(f"/callers/{2**63 - 1}", headers={"cookie": browser.cookie})
    assert reply.status_code == 404


@pytest.mark.parametrize(
    "path",
    [
        "/link/%00",
        "/link/%FF%FE",
        "/link/" + "a" * 5000,
        "/?page=%00",
        "/?page=%FF",
        "/?page=" + "9" * 5000,
        "/?done=%FF%00",
        "/inbox/list?page=-1",
        "/callers/%FF",
        "/week?x=%00",
        "/static/%00",
        "/static/..%2F..%2Fsettings.py",
    ],
)
async def test_odd_paths_and_queries_are_never_a_500(browser: Browser, path: str) -> None:
    await browser.sign_in("jane")
    for method in ("GET", "POST"):
        reply = await browser.client.request(
            method, path, headers={"cookie": browser.cookie, "accept": "text/html"}
        )
        assert reply.status_code < 500, (method, path)


async def test_a_garbled_session_cookie_is_no_session(browser: Browser) -> None:
    for cookie in (b"__Host-cbd_session=\xff\xfe", b"__Host-cbd_session=a%00b", b"\xff=\xff"):
        reply = await browser.client.get("/inbox/list", headers={b"cookie": cookie})
        assert reply.status_code == 401
