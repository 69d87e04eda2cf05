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
from callback_desk.core.sqlfiles import sql_dir
from callback_desk.core.store import Store
from fakes.agi_runner import REPO
from fakes.settings import make_settings
from tests.conftest import as_role


@pytest.fixture
async def seeded(owner_dsn: str) -> AsyncIterator[str]:
    """One missed call, one attempt and one disposition, written by the owner."""
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
    finally:
        await conn.close()
    yield owner_dsn


async def as_(dsn: str, role: str, statement: str) -> None:
    conn = await asyncpg.connect(as_role(dsn, role))
    try:
        async with conn.transaction():
            await conn.execute(statement)
            raise _Rollback
    except _Rollback:
        pass
    finally:
        await conn.close()


class _Rollback(Exception):
    """Undo what an allowed statement did, so every case starts from the same rows."""


INSERT_CALL = (
    "INSERT INTO calls (pbx, linkedid, direction, outcome, reason, number, callable, started_at,"
    " ended_at) VALUES ('pbx', 'forged', 'inbound', 'missed', 'no_answer', '2125550199', true,"
    " now(), now())"
)
ALLOWED = {
    "cbd_listener": [
        INSERT_CALL,
        "UPDATE calls SET reason = 'no_answer' WHERE linkedid = 'l1'",
        "SELECT version FROM schema_migrations",
    ],
    "cbd_desk": [
        "SELECT * FROM missed_calls",
        "INSERT INTO callback_attempts (call_id, extension) SELECT id, '100' FROM missed_calls",
        "UPDATE callback_attempts SET dial_status = 'ANSWER', ended_at = now(), talk_seconds = 3",
        "DELETE FROM callback_attempts WHERE dial_status IS NULL",
        "INSERT INTO caller_dispositions (number_key, disposition) VALUES ('+1212', 'never')",
    ],
    "cbd_web": [
        "SELECT * FROM missed_calls",
        "INSERT INTO caller_dispositions (number_key, disposition) VALUES ('+1212', 'never')",
    ],
    "cbd_report": [
        "SELECT * FROM missed_calls",
        "SELECT * FROM calls",
        "SELECT * FROM callback_attempts JOIN caller_dispositions USING (call_id)",
    ],
    "cbd_purge": [
        "DELETE FROM calls WHERE started_at < now()",
        "UPDATE callback_attempts SET dial_status = 'UNKNOWN' WHERE dial_status IS NULL",
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
    ],
    "cbd_web": [
        INSERT_CALL,
        "DELETE FROM calls",
        "UPDATE caller_dispositions SET extension = ''",
        "DELETE FROM web_audit",
        "UPDATE web_audit SET detail = ''",
    ],
    "cbd_purge": [
        INSERT_CALL,
        "SELECT * FROM caller_dispositions",
        "INSERT INTO caller_dispositions (number_key, disposition) VALUES ('+1212', 'never')",
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
        assert await store.purge(tomorrow) == 1
    finally:
        await store.close()


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
