"""What a therapist sees of a caller who also called a colleague's line: their own lines' calls
and their own work, and that a colleague returned the caller, nothing more (issue 16). The front
desk and admins see everything. Each test fails if the filter it covers is taken out (the week
page's scope: tests/db/test_web.py)."""

from __future__ import annotations

import logging
from datetime import timedelta

import httpx
import pytest

from callback_desk.core.store import Store
from tests.db.test_web import web
from tests.web_support import add_caller, add_user, csrf_of, sign_in

# The inbox connects with cbd_web's rights only (sql/grants.sql).
pytestmark = pytest.mark.db_role("cbd_web")

__all__ = ["web"]  # the inbox as cbd_web, the fixture of tests/db/test_web.py

CALLER = "2125550123"


async def one_caller_on_two_lines(web: httpx.AsyncClient, store: Store) -> tuple[int, int]:
    """The same caller missed Jane (desk 101, line 2001) and then Bob (desk 102, line 2002).
    Jane's desk tried once (BUSY); Bob's desk tried (NOANSWER), then Bob marked the caller
    handled in the inbox: a decision and an audit row of his, which return Jane's call too."""
    await add_user(store, "jane", extensions=("101",))
    await add_user(store, "bob", extensions=("102",))
    await add_user(store, "desk", role="frontdesk", extensions=("100",))
    janes = await add_caller(store, "j", CALLER, line="2001", ago=timedelta(hours=3))
    bobs = await add_caller(store, "b", CALLER, line="2002", ago=timedelta(hours=2))
    await store.pool.execute(
        "INSERT INTO callback_attempts (call_id, extension, started_at, ended_at, dial_status,"
        " talk_seconds) VALUES"
        " ($1, '101', now() - interval '150 minutes', now() - interval '149 minutes', 'BUSY', 0),"
        " ($2, '102', now() - interval '90 minutes', now() - interval '89 minutes', 'NOANSWER', 0)",
        janes,
        bobs,
    )
    await sign_in(web, "bob")
    csrf = csrf_of((await web.get("/")).text)
    reply = await web.post(f"/callers/{bobs}/handled", data={"csrf": csrf})
    assert reply.status_code == 303
    return janes, bobs


async def test_a_therapist_sees_only_their_own_work_on_a_shared_caller(
    web: httpx.AsyncClient, store: Store
) -> None:
    janes, _ = await one_caller_on_two_lines(web, store)
    await sign_in(web, "jane")
    page = await web.get(f"/callers/{janes}")
    assert page.status_code == 200
    body = page.text.split("</header>", 1)[1]  # the header names the signed-in user
    # Her own call and attempt...
    assert "2001 → 101" in body and "BUSY" in body
    # ...and not Bob's call, attempt, decision or audit row: no name, no desk, no line.
    for seen in ("bob", "NOANSWER", "102", "2002", "marked as handled", "handled"):
        assert seen not in body, seen
    # Only the plain fact that someone returned the caller.
    assert "returned by a colleague" in body


async def test_the_colleague_and_the_front_desk_see_what_is_theirs_to_see(
    web: httpx.AsyncClient, store: Store
) -> None:
    janes, bobs = await one_caller_on_two_lines(web, store)
    # Bob returned the caller himself: his page says how, and shows nothing of Jane's.
    body = (await web.get(f"/callers/{bobs}")).text.split("</header>", 1)[1]
    assert "marked as handled by bob" in body and "NOANSWER" in body
    assert "returned by a colleague" not in body
    assert "BUSY" not in body and "2001 →" not in body and "jane" not in body
    # The front desk answers for every line: everything, with names.
    await sign_in(web, "desk")
    body = (await web.get(f"/callers/{janes}")).text.split("</header>", 1)[1]
    for seen in ("BUSY", "NOANSWER", "2001 →", "2002 →", "marked as handled by bob"):
        assert seen in body, seen
    assert "bob — handled" in body and "returned by a colleague" not in body


async def test_a_call_on_other_lines_is_the_same_404_as_no_call_and_is_audited(
    web: httpx.AsyncClient, store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    _, bobs = await one_caller_on_two_lines(web, store)
    nothing = await store.pool.fetchval("SELECT max(id) + 1000 FROM calls")
    await sign_in(web, "jane")
    with caplog.at_level(logging.WARNING, logger="callback_desk.web"):
        for path in ("", "/never"):
            other = await web.get(f"/callers/{bobs}{path}")
            missing = await web.get(f"/callers/{nothing}{path}")
            assert other.status_code == missing.status_code == 404, path
            assert other.text == missing.text, path
            assert dict(other.headers) == dict(missing.headers), path
    refused = [r for r in caplog.records if getattr(r, "action", "") == "web_out_of_scope"]
    assert len(refused) == 2
    audited = await store.pool.fetch(
        "SELECT username, call_id FROM web_audit WHERE action = 'refused'"
    )
    assert [tuple(r) for r in audited] == [("jane", bobs)] * 2
