"""Least-privilege database roles (sql/roles.sql, sql/grants.sql): each component's role may do
its job and nothing else. Each forbidden case is an attack a compromised component could try."""

from __future__ import annotations

import asyncio
import itertools
import os
import re
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from callback_desk.core import migrate, roles
from callback_desk.core.config import Secret
from callback_desk.core.exceptions import StoreError
from callback_desk.core.sqlfiles import sql_dir
from callback_desk.core.store import Store
from callback_desk.web.live import CHANNEL, Changes
from fakes.agi_runner import REPO
from fakes.settings import make_settings
from tests.conftest import as_role


@pytest.fixture
async def seeded(owner_dsn: str) -> AsyncIterator[str]:
    """Written by the owner: a missed call of an hour ago with a running attempt and one
    disposition; a missed call of ten days ago whose callback was answered (a finished attempt);
    an inbox therapist and an inbox admin, each with an email address; the therapist's sign-in
    link, used."""
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
        await conn.execute(
            "INSERT INTO web_sign_in_links (jti, user_id, expires_at, used_at) SELECT $1, id,"
            " now() + interval '1 hour', now() FROM web_users WHERE username = 'jane'",
            USED_LINK,
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


USED_LINK = "used-link"
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
        # A decision, signed by the database with the session's user (none here: NULL).
        "SELECT web_decide('no-such-session', id, 'never') FROM calls WHERE linkedid = 'l1'",
        "SELECT consume_sign_in_link('no-such-link')",
        # callback-desk user add | passwd | disable | enable, run as cbd_web.
        "INSERT INTO web_users (username, role, password_hash) VALUES ('sam', 'therapist', 'x')",
        "UPDATE web_users SET password_hash = 'x', password_changed_at = now()"
        " WHERE username = 'jane'",
        "UPDATE web_users SET disabled = true WHERE username = 'jane'",
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
        # A decision signed with someone else's name: the database signs them (web_decide()).
        "INSERT INTO caller_dispositions (number_key, disposition, decided_by)"
        " VALUES ('+12125550101', 'never', 'jane')",
        "INSERT INTO caller_dispositions (call_id, disposition) SELECT id, 'handled' FROM calls",
        # Roles, names and desk phones (which decide a therapist's lines) are not the inbox's
        # to change: a therapist made admin, or given the front desk's extension, sees all.
        "UPDATE web_users SET role = 'admin' WHERE username = 'jane'",
        "UPDATE web_users SET username = 'root' WHERE username = 'boss'",
        "UPDATE web_users SET extensions = '{100}' WHERE username = 'jane'",
        # A used sign-in link made new again, an old one extended, one made up.
        f"UPDATE web_sign_in_links SET used_at = NULL WHERE jti = '{USED_LINK}'",
        f"UPDATE web_sign_in_links SET expires_at = now() + interval '1 year'"
        f" WHERE jti = '{USED_LINK}'",
        "INSERT INTO web_sign_in_links (jti, user_id, expires_at)"
        " SELECT 'forged', id, now() + interval '1 hour' FROM web_users WHERE role = 'admin'",
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


async def test_the_inbox_decides_as_the_user_of_a_live_session_only(seeded: str) -> None:
    """web_decide() signs with the session's user, their desk and the database's clock; the
    call's own number key; nothing for an ended session or a call that is no missed call."""
    conn = await asyncpg.connect(as_role(seeded, "cbd_web"))
    try:
        jane = await conn.fetchval("SELECT id FROM web_users WHERE username = 'jane'")
        call = await conn.fetchval("SELECT id FROM calls WHERE linkedid = 'l1'")
        assert await conn.fetchval("SELECT web_session_start($1, $2, '')", "s" * 32, jane)
        async with conn.transaction():
            decided = await conn.fetchval("SELECT web_decide($1, $2, 'never')", "s" * 32, call)
            stamped = await conn.fetchrow(
                "SELECT call_id, number_key, extension, decided_by, decided_at = now() AS now"
                " FROM caller_dispositions WHERE id = $1",
                decided,
            )
        assert tuple(stamped) == (call, "+12125550101", "101", "jane", True)
        assert await conn.fetchval("SELECT web_decide($1, $2, 'never')", "t" * 32, call) is None
        assert await conn.fetchval("SELECT web_session_sign_out($1)", "s" * 32)
        assert await conn.fetchval("SELECT web_decide($1, $2, 'never')", "s" * 32, call) is None
    finally:
        await conn.close()


async def test_a_sign_in_link_is_used_once_through_the_function(seeded: str) -> None:
    owner = await asyncpg.connect(seeded)
    try:
        await owner.execute(
            "INSERT INTO web_sign_in_links (jti, user_id, expires_at)"
            " SELECT 'fresh', id, now() + interval '1 hour' FROM web_users WHERE username = 'jane'"
        )
    finally:
        await owner.close()
    conn = await asyncpg.connect(as_role(seeded, "cbd_web"))
    try:
        use = "SELECT consume_sign_in_link($1)"
        jane = await conn.fetchval("SELECT id FROM web_users WHERE username = 'jane'")
        assert await conn.fetchval(use, "fresh") == jane
        assert await conn.fetchval(use, "fresh") is None
        assert await conn.fetchval(use, USED_LINK) is None
    finally:
        await conn.close()


async def test_any_role_may_notify_and_the_inbox_trusts_only_that_something_changed(
    seeded: str,
) -> None:
    """NOTIFY needs no privilege (sql/0011_signed_writes.sql): a forged notification, whatever
    its payload, only makes each open inbox re-read its own list."""
    changes = Changes(Secret(as_role(seeded, "cbd_web")))
    report = await asyncpg.connect(as_role(seeded, "cbd_report"))
    try:
        with changes.subscribe() as queue:
            await changes.start()
            async with asyncio.timeout(10):
                await queue.get()  # the "changed" every stream gets once it listens
                await report.execute(f"NOTIFY {CHANNEL}, '<script>alert(1)</script>'")
                await queue.get()  # a re-read, and nothing else: the queue carries no payload
    finally:
        await report.close()
        await changes.stop()


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
        links = await owner.fetch(
            "SELECT jti, user_id FROM web_sign_in_links WHERE jti <> $1", USED_LINK
        )
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


# Every privilege a role holds (directly, through a group or PUBLIC): on each table and view, whole
# or by column (listed only where the whole table is not granted), and EXECUTE on each function
# that PUBLIC may not run (the others carry no rights of their own).
PRIVILEGES = """
SELECT c.relname AS object, r.role, p.privilege, NULL::text AS columns
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace,
     unnest($1::text[]) AS r (role),
     unnest(ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'REFERENCES', 'TRIGGER'])
         AS p (privilege)
WHERE n.nspname = 'public' AND c.relkind IN ('r', 'v', 'm', 'p')
  AND has_table_privilege(r.role, c.oid, p.privilege)
UNION ALL
SELECT c.relname, r.role, p.privilege,
       string_agg(a.attname, ', ' ORDER BY a.attnum)
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped,
     unnest($1::text[]) AS r (role),
     unnest(ARRAY['SELECT', 'INSERT', 'UPDATE', 'REFERENCES']) AS p (privilege)
WHERE n.nspname = 'public' AND c.relkind IN ('r', 'v', 'm', 'p')
  AND NOT has_table_privilege(r.role, c.oid, p.privilege)
  AND has_column_privilege(r.role, c.oid, a.attnum, p.privilege)
GROUP BY c.relname, r.role, p.privilege
UNION ALL
SELECT f.proname || '()', r.role, 'EXECUTE', NULL
FROM pg_proc f JOIN pg_namespace n ON n.oid = f.pronamespace, unnest($1::text[]) AS r (role)
WHERE n.nspname = 'public'
  AND has_function_privilege(r.role, f.oid, 'EXECUTE')
  AND NOT has_function_privilege('public', f.oid, 'EXECUTE')
"""


Grants = dict[str, dict[str, frozenset[str]]]


def documented_grants() -> Grants:
    """The exact grants table of docs/security.md: object -> role -> privileges."""
    lines = (REPO / "docs" / "security.md").read_text().splitlines()
    header = "| object | " + " | ".join(f"`{role}`" for role in roles.ROLES) + " |"
    start = lines.index(header) + 2
    table: Grants = {}
    for line in itertools.takewhile(lambda text: text.startswith("|"), lines[start:]):
        name, *cells = (cell.strip() for cell in line.strip("|").split("|"))
        table[name.strip("`")] = {
            role: frozenset(re.findall(r"[A-Z]+(?: \([^)]*\))?", cell))
            for role, cell in zip(roles.ROLES, cells, strict=True)
            if cell != "—"
        }
    return table


async def test_the_who_can_do_what_table_is_exactly_the_grants(owner_dsn: str) -> None:
    conn = await asyncpg.connect(owner_dsn)
    try:
        rows = await conn.fetch(PRIVILEGES, roles.ROLES)
    finally:
        await conn.close()
    granted: dict[str, dict[str, set[str]]] = {}
    for r in rows:
        item = r["privilege"] + (f" ({r['columns']})" if r["columns"] else "")
        granted.setdefault(r["object"], {}).setdefault(r["role"], set()).add(item)
    actual = {name: {role: frozenset(p) for role, p in by.items()} for name, by in granted.items()}
    assert documented_grants() == actual, "docs/security.md's grants table is not the database's"
