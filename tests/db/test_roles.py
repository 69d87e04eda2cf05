"""Least-privilege database roles (sql/roles.sql, sql/grants.sql): each component's role may do
its job and nothing else. Each forbidden case is an attack a compromised component could try."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from callback_desk.core import migrate, roles
from callback_desk.core.exceptions import StoreError
from callback_desk.core.sqlfiles import sql_dir
from callback_desk.core.store import Store
from fakes.agi_runner import REPO
from fakes.settings import make_settings
from tests.conftest import as_role


@pytest.fixture
async def seeded(owner_dsn: str) -> AsyncIterator[str]:
    """Written by the owner: a missed call of an hour ago with a running attempt and one
    disposition; a missed call of ten days ago whose callback was answered (a finished attempt);
    an inbox therapist and an inbox admin, each with an email address."""
    conn = await asyncpg.connect(owner_dsn)
    try:
        call_id = await conn.fetchval(
            "INSERT INTO calls (pbx, linkedid, direction, outcome, reason, number, number_key,"
            " callable, started_at, ended_at) VALUES ('pbx', 'l1', 'inbound', 'missed',"
            " 'no_answer', '2125550101', '+12125550101', true, now() - interval '1 hour',"
            " now() - interval '59 minutes') RETURNING id"
        )
        await conn.execute(
            "INSERT INTO callback_attempts (call_id, extension) VALUES ($1, '100')",
            call_id,
        )
        await conn.execute(
            "INSERT INTO caller_dispositions (call_id, disposition) VALUES ($1, 'handled')",
            call_id,
        )
        old = await conn.fetchval(
            "INSERT INTO calls (pbx, linkedid, direction, outcome, reason, number, number_key,"
            " callable, started_at, ended_at) VALUES ('pbx', 'l0', 'inbound', 'missed',"
            " 'no_answer', '2125550102', '+12125550102', true, now() - interval '10 days',"
            " now() - interval '10 days') RETURNING id"
        )
        await conn.execute(
            "INSERT INTO callback_attempts (call_id, extension, started_at, ended_at,"
            " dial_status, talk_seconds) VALUES ($1, '101', now() - interval '9 days',"
            " now() - interval '9 days', 'ANSWER', 42)",
            old,
        )
        await conn.execute(
            "INSERT INTO web_users (username, email, role, extensions, password_hash) VALUES"
            " ('jane', 'jane@example.org', 'therapist', '{101}', '$argon2id$jane'),"
            " ('boss', 'boss@example.org', 'admin', '{100}', '$argon2id$boss')"
        )
    finally:
        await conn.close()
    yield owner_dsn


async def as_(dsn: str, role: str, statement: str) -> list[asyncpg.Record]:
    """Run ``statement`` as ``role`` and roll it back; what it returned."""
    conn = await asyncpg.connect(as_role(dsn, role))
    rows: list[asyncpg.Record] = []
    try:
        async with conn.transaction():
            rows = await conn.fetch(statement)
            raise _Rollback
    except _Rollback:
        pass
    finally:
        await conn.close()
    return rows


class _Rollback(Exception):
    """Undo what an allowed statement did, so every case starts from the same rows."""


INSERT_CALL = (
    "INSERT INTO calls (pbx, linkedid, direction, outcome, reason, number, callable, started_at,"
    " ended_at) VALUES ('pbx', 'forged', 'inbound', 'missed', 'no_answer', '2125550199', true,"
    " now(), now())"
)
# The answered callback of ten days ago: it resolved its caller, so rewriting or removing it
# would put the caller back on (or keep them off) everyone's list.
FINISHED = "dial_status = 'ANSWER'"
ATTEMPT_FORGERIES = [
    f"UPDATE callback_attempts SET dial_status = 'NOANSWER' WHERE {FINISHED}",
    f"UPDATE callback_attempts SET talk_seconds = 0 WHERE {FINISHED}",
    f"DELETE FROM callback_attempts WHERE {FINISHED}",
    # An answered callback that never happened resolves a caller nobody reached.
    "INSERT INTO callback_attempts (call_id, extension, dial_status) SELECT id, '100', 'ANSWER'"
    " FROM calls WHERE linkedid = 'l1'",
    "INSERT INTO callback_attempts (call_id, extension, started_at) SELECT id, '100',"
    " now() - interval '2 days' FROM calls WHERE linkedid = 'l1'",
]
DISPOSITION_FORGERIES = [
    # Back-dated: a 'handled' dated before a call resolves calls nobody dealt with.
    "INSERT INTO caller_dispositions (number_key, disposition, decided_at)"
    " VALUES ('+12125550101', 'handled', now() + interval '1 day')",
    "INSERT INTO caller_dispositions (number_key, disposition, decided_at)"
    " VALUES ('+12125550101', 'handled', now() - interval '3 days')",
]
ALLOWED = {
    "cbd_listener": [
        INSERT_CALL,
        "UPDATE calls SET reason = 'no_answer' WHERE linkedid = 'l1'",
        "SELECT version FROM schema_migrations",
    ],
    "cbd_desk": [
        "SELECT * FROM missed_calls",
        "INSERT INTO callback_attempts (call_id, extension, channel_id)"
        " SELECT id, '100', 'chan-1' FROM missed_calls WHERE linkedid = 'l1'",
        "SELECT finish_callback_attempt(id, 'ANSWER', 3) FROM callback_attempts"
        " WHERE dial_status IS NULL",
        "SELECT withdraw_callback_attempt(id) FROM callback_attempts WHERE dial_status IS NULL",
        "INSERT INTO caller_dispositions (number_key, disposition, extension)"
        " VALUES ('+1212', 'never', '100')",
    ],
    "cbd_web": [
        "SELECT * FROM missed_calls",
        "SELECT finish_callback_attempt(id, 'BUSY', 0) FROM callback_attempts"
        " WHERE dial_status IS NULL",
        "INSERT INTO caller_dispositions (number_key, disposition, decided_by)"
        " VALUES ('+1212', 'never', 'jane')",
    ],
    "cbd_report": [
        "SELECT * FROM missed_calls",
        "SELECT * FROM calls",
        "SELECT * FROM callback_attempts JOIN caller_dispositions USING (call_id)",
        "SELECT issue_sign_in_link('jane@example.org', 'j1', now() + interval '12 hours')",
    ],
    "cbd_purge": [
        "SELECT purge_calls_before(now() - interval '2 days')",
        "SELECT close_stale_callback_attempts(now())",
    ],
}
FORBIDDEN = {
    # A compromised listener cannot read what desks did, nor erase callers.
    "cbd_listener": [
        "SELECT * FROM web_users",
        "SELECT * FROM callback_attempts",
        "SELECT * FROM caller_dispositions",
        "DELETE FROM calls",
        "INSERT INTO caller_dispositions (number_key, disposition) VALUES ('+1212', 'never')",
        "SELECT close_stale_callback_attempts(now())",
    ],
    # A compromised desk side cannot forge a caller to dial, remove one, or rewrite history,
    # nor read the inbox's password hashes.
    "cbd_desk": [
        "SELECT password_hash FROM web_users",
        INSERT_CALL,
        "DELETE FROM calls",
        "UPDATE calls SET number_key = '+19005550199'",
        "UPDATE callback_attempts SET call_id = call_id",
        "UPDATE caller_dispositions SET disposition = 'never'",
        "DELETE FROM caller_dispositions",
        *ATTEMPT_FORGERIES,
        *DISPOSITION_FORGERIES,
        # A desk phone's verdict is the desk's (its extension); it cannot sign as a person.
        "INSERT INTO caller_dispositions (number_key, disposition, decided_by)"
        " VALUES ('+12125550101', 'never', 'jane')",
        "SELECT issue_sign_in_link('jane@example.org', 'j1', now() + interval '1 hour')",
    ],
    # The report reads; its only write is a sign-in link for an inbox user it mails.
    "cbd_report": [
        "UPDATE web_users SET role = 'admin'",
        "INSERT INTO web_audit (username, action) VALUES ('x', 'forged')",
        INSERT_CALL,
        "UPDATE calls SET reason = 'x'",
        "DELETE FROM calls",
        "INSERT INTO caller_dispositions (number_key, disposition) VALUES ('+1212', 'never')",
        "DELETE FROM callback_attempts",
        # The hashes: an offline guessing attack on every inbox password.
        "SELECT password_hash FROM web_users",
        "SELECT username, email FROM web_users",
        # A link of its own choosing, for the admin: the report holds the signing key, so this
        # would be an admin session without a password.
        "INSERT INTO web_sign_in_links (jti, user_id, expires_at)"
        " SELECT 'forged', id, now() + interval '1 hour' FROM web_users WHERE role = 'admin'",
        "SELECT issue_sign_in_link('jane@example.org', 'j1', now() + interval '30 days')",
        "SELECT finish_callback_attempt(id, 'ANSWER', 1) FROM callback_attempts",
    ],
    "cbd_web": [
        INSERT_CALL,
        "DELETE FROM calls",
        "UPDATE caller_dispositions SET extension = ''",
        "DELETE FROM web_audit",
        "UPDATE web_audit SET detail = ''",
        *ATTEMPT_FORGERIES,
        *DISPOSITION_FORGERIES,
        "SELECT purge_calls_before(now() - interval '2 days')",
    ],
    "cbd_purge": [
        INSERT_CALL,
        "SELECT * FROM caller_dispositions",
        "INSERT INTO caller_dispositions (number_key, disposition) VALUES ('+1212', 'never')",
        # Closing stale attempts is its job; answering them is not.
        "UPDATE callback_attempts SET dial_status = 'ANSWER' WHERE dial_status IS NULL",
        f"UPDATE callback_attempts SET dial_status = 'NOANSWER' WHERE {FINISHED}",
        "DELETE FROM callback_attempts",
        # Deletion by age only: not today's calls, not everything at once.
        "DELETE FROM calls",
        "SELECT purge_calls_before(now())",
        "SELECT purge_calls_before(now() - interval '1 hour')",
    ],
}


def cases(table: dict[str, list[str]]) -> list[tuple[str, str]]:
    return [(role, statement) for role, statements in table.items() for statement in statements]


@pytest.mark.parametrize(("role", "statement"), cases(ALLOWED))
async def test_each_role_can_do_its_job(seeded: str, role: str, statement: str) -> None:
    await as_(seeded, role, statement)


@pytest.mark.parametrize(("role", "statement"), cases(FORBIDDEN))
async def test_each_role_is_refused_the_rest(seeded: str, role: str, statement: str) -> None:
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await as_(seeded, role, statement)


@pytest.mark.parametrize("role", ["cbd_desk", "cbd_web"])
async def test_a_finished_attempt_stays_as_it_was_recorded(seeded: str, role: str) -> None:
    """The functions the desk side may call touch running attempts only."""
    finished = f"SELECT id FROM callback_attempts WHERE {FINISHED}"
    assert await as_(seeded, role, f"SELECT finish_callback_attempt(({finished}), 'BUSY', 0)") == [
        (None,)
    ]
    assert await as_(seeded, role, f"SELECT withdraw_callback_attempt(({finished}))") == [(None,)]
    # ...while a running one is finished once: a replay changes nothing.
    running = "SELECT id FROM callback_attempts WHERE dial_status IS NULL"
    conn = await asyncpg.connect(as_role(seeded, role))
    try:
        attempt = await conn.fetchval(running)
        assert await conn.fetchval("SELECT finish_callback_attempt($1, 'ANSWER', 5)", attempt)
        assert await conn.fetchval("SELECT finish_callback_attempt($1, 'BUSY', 0)", attempt) is None
        assert await conn.fetchval("SELECT withdraw_callback_attempt($1)", attempt) is None
        row = await conn.fetchrow(
            "SELECT dial_status, talk_seconds FROM callback_attempts WHERE id = $1", attempt
        )
    finally:
        await conn.close()
    assert tuple(row) == ("ANSWER", 5)


async def test_a_disposition_carries_the_databases_time_not_the_writers(seeded: str) -> None:
    conn = await asyncpg.connect(as_role(seeded, "cbd_desk"))
    try:
        stamped = await conn.fetchrow(
            "INSERT INTO caller_dispositions (number_key, disposition, extension)"
            " VALUES ('+12125550101', 'handled', '101')"
            " RETURNING decided_at, decided_by, now() AS now"
        )
    finally:
        await conn.close()
    assert stamped["decided_at"] == stamped["now"] and stamped["decided_by"] == ""


async def test_the_report_links_only_enabled_non_admin_users_it_mails(seeded: str) -> None:
    conn = await asyncpg.connect(as_role(seeded, "cbd_report"))
    try:

        async def issue(address: str, jti: str) -> int | None:
            issued: int | None = await conn.fetchval(
                "SELECT issue_sign_in_link($1, $2, now() + interval '12 hours')", address, jti
            )
            return issued

        jane = await issue("JANE@example.org", "j-jane")
        assert jane is not None
        # Admins sign in with their password; nobody has an empty address.
        assert await issue("boss@example.org", "j-boss") is None
        assert await issue("", "j-empty") is None
        assert await issue("nobody@example.org", "j-nobody") is None
    finally:
        await conn.close()
    owner = await asyncpg.connect(seeded)
    try:
        links = await owner.fetch("SELECT jti, user_id FROM web_sign_in_links")
        await owner.execute("UPDATE web_users SET disabled = true WHERE username = 'jane'")
    finally:
        await owner.close()
    assert [tuple(r) for r in links] == [("j-jane", jane)]
    conn = await asyncpg.connect(as_role(seeded, "cbd_report"))
    try:
        assert (
            await conn.fetchval(
                "SELECT issue_sign_in_link('jane@example.org', 'j2', now() + interval '1 hour')"
            )
            is None
        )
    finally:
        await conn.close()


async def test_no_function_that_runs_with_the_owners_rights_is_open_to_public(
    owner_dsn: str,
) -> None:
    conn = await asyncpg.connect(owner_dsn)
    try:
        # An admin's stray grant is taken back by the next migrate, like any table's.
        await conn.execute("GRANT EXECUTE ON FUNCTION purge_calls_before(timestamptz) TO PUBLIC")
        await migrate.migrate(conn)
        open_to_public = await conn.fetch(
            "SELECT p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace"
            " WHERE n.nspname = 'public' AND p.prosecdef"
            " AND has_function_privilege('public', p.oid, 'EXECUTE')"
        )
        unpinned = await conn.fetch(
            "SELECT p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace"
            " WHERE n.nspname = 'public' AND p.prosecdef"
            " AND NOT coalesce(p.proconfig::text LIKE '%search_path=pg_catalog, public, pg_temp%',"
            " false)"
        )
    finally:
        await conn.close()
    assert [r["proname"] for r in open_to_public] == []
    assert [r["proname"] for r in unpinned] == []


async def test_every_table_and_view_has_its_grants_decided(owner_dsn: str) -> None:
    """A migration that adds a table must say, in sql/grants.sql, which roles may use it."""
    conn = await asyncpg.connect(owner_dsn)
    try:
        names = await conn.fetch(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = 'public' AND c.relkind IN ('r', 'v', 'm', 'p')"
        )
    finally:
        await conn.close()
    granted = set(re.findall(r"\bON\s+(\w+)", (sql_dir() / "grants.sql").read_text()))
    missing = sorted({r["relname"] for r in names} - granted)
    assert not missing, f"sql/grants.sql does not mention {missing}: grant each component's rights"


async def test_grants_are_reapplied_by_migrate_and_roles_survive_a_rerun(owner_dsn: str) -> None:
    conn = await asyncpg.connect(owner_dsn)
    try:
        # An admin's stray grant is taken back by the next migrate: the file is the truth.
        await conn.execute("GRANT DELETE ON calls TO cbd_report")
        await roles.create_roles(conn)  # again: cluster-wide roles already exist
        assert await migrate.migrate(conn) == []
        allowed = await conn.fetchval("SELECT has_table_privilege('cbd_report', 'calls', 'DELETE')")
        assert allowed is False
    finally:
        await conn.close()


async def test_roles_cannot_log_in_by_themselves(owner_dsn: str) -> None:
    conn = await asyncpg.connect(owner_dsn)
    try:
        rows = await conn.fetch(
            "SELECT rolname, rolcanlogin, rolsuper, rolcreaterole FROM pg_roles"
            " WHERE rolname = ANY($1)",
            roles.ROLES,
        )
    finally:
        await conn.close()
    assert sorted(r["rolname"] for r in rows) == sorted(roles.ROLES)
    assert not any(r["rolcanlogin"] or r["rolsuper"] or r["rolcreaterole"] for r in rows)


async def test_purge_runs_with_its_own_role(seeded: str) -> None:
    store = await Store.open(make_settings(as_role(seeded, "cbd_purge")).database)
    try:
        tomorrow = datetime.now(UTC) + timedelta(days=1)
        assert await store.close_stale_attempts(tomorrow) == 1
        # The call of ten days ago goes, with its answered attempt; the hour-old one stays.
        assert await store.purge(datetime.now(UTC) - timedelta(days=2)) == 1
        with pytest.raises(StoreError, match="purging old calls"):
            await store.purge(tomorrow)
    finally:
        await store.close()
    conn = await asyncpg.connect(seeded)
    try:
        left = await conn.fetch("SELECT linkedid FROM calls")
        attempts = await conn.fetch("SELECT dial_status FROM callback_attempts")
    finally:
        await conn.close()
    assert [r["linkedid"] for r in left] == ["l1"]
    assert [r["dial_status"] for r in attempts] == ["UNKNOWN"]


def _cli(dsn: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CALLBACK_DESK_CONFIG": "/dev/null", "CALLBACK_DESK_DATABASE_DSN": dsn}
    return subprocess.run(
        [sys.executable, "-m", "callback_desk.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
    )


def test_grant_command_as_the_admin_and_refused_to_a_component(owner_dsn: str) -> None:
    done = _cli(owner_dsn, "grant")
    assert done.returncode == 0, done.stderr
    assert "cbd_listener" in done.stdout and "cbd_desk" in done.stdout
    # A component's login cannot hand itself more rights.
    refused = _cli(as_role(owner_dsn, "cbd_report"), "grant")
    assert refused.returncode == 1
    assert refused.stderr.count("\n") == 1 and "permission denied" in refused.stderr
