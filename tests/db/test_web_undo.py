"""Undo of Handled and Never (web_undo_disposition(), sql/0012_admin.sql): the person who marked a
caller takes it back within the window, audited, and the caller awaits a callback again, the
kept state equal to its rebuild; anyone else, or later, is refused.
"""

from __future__ import annotations

import re
from datetime import timedelta

import asyncpg
import httpx
import pytest

from callback_desk.core.store import Store
from callback_desk.web.views.base import UNDO_WINDOW
from tests.conftest import as_role
from tests.db.test_awaiting_state import assert_kept
from tests.web_support import add_caller, add_user, client_for, csrf_of, sign_in, web_settings

pytestmark = pytest.mark.db_role("cbd_web")


def undo_buttons(page: str) -> list[str]:
    return re.findall(r'action="(/marks/\d+/undo)"', page)


async def post(web: httpx.AsyncClient, path: str) -> httpx.Response:
    page = await web.get("/")
    return await web.post(path, data={"csrf": csrf_of(page.text)})


async def mark(web: httpx.AsyncClient, call_id: int, verdict: str) -> str:
    """Mark the caller from the inbox; the Undo the page then offers."""
    assert (await post(web, f"/callers/{call_id}/{verdict}")).status_code == 303
    buttons = undo_buttons((await web.get("/")).text)
    assert len(buttons) == 1
    return buttons[0]


async def waiting(store: Store) -> list[int]:
    return [r["call_id"] for r in await store.pool.fetch("SELECT call_id FROM awaiting_calls")]


@pytest.mark.parametrize("verdict", ["handled", "never"])
async def test_the_marker_undoes_a_mark_and_the_caller_awaits_again(
    db_dsn: str, owner_dsn: str, store: Store, component_store: Store, verdict: str
) -> None:
    await add_user(store, "jane")
    call = await add_caller(store, "a", "2125550123", line="2001")
    async with client_for(web_settings(db_dsn), component_store) as web:
        await sign_in(web, "jane")
        undo = await mark(web, call, verdict)
        page = (await web.get("/")).text
        assert "Marked by you in the last 5 minutes" in page and "(212) 555-0123" in page
        assert await waiting(store) == []
        done = await post(web, undo)
        assert done.status_code == 303 and done.headers["location"] == "/?done=undone"
        page = (await web.get("/")).text
        assert undo_buttons(page) == [] and "(212) 555-0123" in page
        # Once only: the mark is gone.
        assert (await post(web, undo)).status_code == 409
    assert await waiting(store) == [call]
    owner = await asyncpg.connect(owner_dsn)
    try:
        await assert_kept(owner)
    finally:
        await owner.close()
    rows = await store.pool.fetch("SELECT username, action, call_id FROM web_audit ORDER BY id")
    assert [tuple(r) for r in rows][:2] == [("jane", verdict, call), ("jane", "undo", call)]


@pytest.mark.parametrize("other", ["sam", "front"])
async def test_nobody_else_undoes_a_mark(
    db_dsn: str, store: Store, component_store: Store, other: str
) -> None:
    await add_user(store, "jane")
    await add_user(store, "sam", extensions=("101",))  # the same lines as Jane
    await add_user(store, "front", role="frontdesk", extensions=("100",))
    call = await add_caller(store, "a", "2125550123", line="2001")
    settings = web_settings(db_dsn)
    async with client_for(settings, component_store) as web:
        await sign_in(web, "jane")
        undo = await mark(web, call, "handled")
    async with client_for(settings, component_store, ip="10.0.0.8") as web:
        await sign_in(web, other)
        assert undo_buttons((await web.get("/")).text) == []
        refused = await post(web, undo)
        assert refused.status_code == 409
    assert await waiting(store) == []
    assert await store.pool.fetchval("SELECT count(*) FROM caller_dispositions") == 1
    assert (
        await store.pool.fetchval(
            "SELECT count(*) FROM web_audit WHERE username = $1 AND action = 'refused'", other
        )
        == 1
    )


async def test_a_mark_older_than_the_window_stays(
    db_dsn: str, store: Store, component_store: Store
) -> None:
    await add_user(store, "jane")
    call = await add_caller(store, "a", "2125550123", line="2001")
    async with client_for(web_settings(db_dsn), component_store) as web:
        await sign_in(web, "jane")
        undo = await mark(web, call, "handled")
        # The window passes (the database's clock decides, not the browser's).
        await store.pool.execute(
            "UPDATE caller_dispositions SET decided_at = now() - $1::interval - interval '1 s'",
            UNDO_WINDOW,
        )
        assert undo_buttons((await web.get("/")).text) == []
        refused = await post(web, undo)
        assert refused.status_code == 409 and "within 5 minutes" in refused.text
        # Without the CSRF token nothing is even tried.
        assert (await web.post(undo, data={})).status_code == 403
    assert await waiting(store) == []


async def test_the_database_caps_the_window_and_wants_the_markers_session(
    owner_dsn: str, store: Store
) -> None:
    """cbd_web itself cannot stretch the window, nor undo a mark but for its author's open
    session."""
    jane = await add_user(store, "jane")
    sam = await add_user(store, "sam")
    call = await add_caller(store, "a", "2125550123", line="2001")
    mark_id = await store.pool.fetchval(
        "INSERT INTO caller_dispositions (call_id, number_key, disposition, decided_by)"
        " SELECT id, number_key, 'handled', 'jane' FROM calls WHERE id = $1 RETURNING id",
        call,
    )
    web = await asyncpg.connect(as_role(owner_dsn, "cbd_web"))
    try:
        undo = "SELECT web_undo_disposition($1, $2, $3::interval)"
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await web.fetchval(undo, "j" * 20, mark_id, timedelta(hours=1))
        assert await web.fetchval(undo, "j" * 20, mark_id, UNDO_WINDOW) is None  # no session
        await web.fetchval("SELECT web_session_start($1, $2, '')", "s" * 20, sam)
        assert await web.fetchval(undo, "s" * 20, mark_id, UNDO_WINDOW) is None  # not Sam's
        await web.fetchval("SELECT web_session_start($1, $2, '')", "j" * 20, jane)
        assert await web.fetchval(undo, "j" * 20, mark_id, UNDO_WINDOW) == call
    finally:
        await web.close()
