"""The database side of ``install``: talks to the local PostgreSQL as its administrator.

By default as ``postgres`` over the local socket (peer authentication, as ``sudo -u postgres
psql`` does): the installer, running as root, connects with its effective user set to
``postgres`` for the moment of the connect (peer authentication reads the connecting
process's effective user) and is root again right after. ``--pg-admin DSN`` names another way
in (another host, a test server).

Passwords never travel in plain text: a login's password is sent as its SCRAM-SHA-256
verifier, computed here (PostgreSQL accepts a verifier in ``PASSWORD '...'``), so it cannot
reach the server's log; and a second run compares the stored verifier with the password in
the secrets file instead of setting it again.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import os
import secrets
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from callback_desk.core import migrate as migrations
from callback_desk.core.exceptions import InstallError, StoreError
from callback_desk.core.sqlfiles import migrations as known_migrations
from callback_desk.core.sqlfiles import sql_text

SOCKET_DIR = Path("/var/run/postgresql")
SCRAM_ITERATIONS = 4096  # PostgreSQL's default (scram_iterations)
# Set on what install creates, so that uninstall --drop-data knows what is ours.
COMMENT = "created by callback-desk install"


def scram_verifier(
    password: str, salt: bytes | None = None, iterations: int = SCRAM_ITERATIONS
) -> str:
    """PostgreSQL's stored form of a SCRAM-SHA-256 password (RFC 5802/7677)."""
    salt = salt if salt is not None else secrets.token_bytes(16)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", "sha256").digest()
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.new(salted, b"Server Key", "sha256").digest()

    def b64(data: bytes) -> str:
        return base64.b64encode(data).decode("ascii")

    return f"SCRAM-SHA-256${iterations}:{b64(salt)}${b64(stored_key)}:{b64(server_key)}"


def scram_matches(password: str, verifier: str | None) -> bool:
    """Whether ``verifier`` (pg_authid.rolpassword) is this password's."""
    if not verifier or not verifier.startswith("SCRAM-SHA-256$"):
        return False
    try:
        head, _keys = verifier.removeprefix("SCRAM-SHA-256$").split("$", 1)
        iterations, salt = head.split(":", 1)
        expected = scram_verifier(password, base64.b64decode(salt), int(iterations))
    except ValueError:
        return False
    return hmac.compare_digest(expected, verifier)


def ident(name: str) -> str:
    """A quoted SQL identifier (role and database names are ours, but quote anyway)."""
    return '"' + name.replace('"', '""') + '"'


@contextlib.contextmanager
def effective_user(uid: int | None) -> Iterator[None]:
    """Run the block with this effective user (root again afterwards)."""
    if uid is None:
        yield
        return
    os.seteuid(uid)
    try:
        yield
    finally:
        os.seteuid(0)


@dataclass(frozen=True)
class Admin:
    """How to reach PostgreSQL as its administrator."""

    dsn: str | None = None  # --pg-admin; None: the local socket as postgres
    postgres_uid: int | None = None

    def _dsn(self, database: str) -> str:
        if self.dsn is None:
            return f"postgresql://postgres@/{database}?host={SOCKET_DIR}"
        parts = urlsplit(self.dsn)
        return urlunsplit(parts._replace(path=f"/{database}"))

    @contextlib.asynccontextmanager
    async def connect(self, database: str = "postgres") -> AsyncIterator[asyncpg.Connection]:
        if self.dsn is None and os.geteuid() != 0:
            raise InstallError(
                "reaching PostgreSQL as postgres needs root (a dry run too); run as root, or "
                "name a server with --pg-admin DSN"
            )
        if self.dsn is None and not SOCKET_DIR.is_dir():
            raise InstallError(
                f"PostgreSQL is not running on this host (no {SOCKET_DIR}): "
                "apt install postgresql, or name a server with --pg-admin DSN"
            )
        try:
            with effective_user(self.postgres_uid if self.dsn is None else None):
                conn = await asyncpg.connect(self._dsn(database), timeout=10)
        except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
            where = (self.dsn and urlsplit(self.dsn).hostname) or f"{SOCKET_DIR} as postgres"
            raise InstallError(f"cannot connect to PostgreSQL ({where}): {exc}") from None
        try:
            yield conn
        finally:
            await conn.close()


# -- checks (read-only) and changes, one pair per step ------------------------------------------


async def role(conn: asyncpg.Connection, name: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT rolcanlogin, rolpassword,"
        " ARRAY(SELECT b.rolname FROM pg_auth_members m JOIN pg_roles b ON b.oid = m.roleid"
        "       WHERE m.member = r.oid) AS member_of"
        " FROM pg_authid r WHERE rolname = $1",
        name,
    )


async def create_role(
    conn: asyncpg.Connection, name: str, password: str | None, member_of: str | None
) -> None:
    login = f"LOGIN PASSWORD '{scram_verifier(password)}'" if password is not None else "NOLOGIN"
    await conn.execute(f"CREATE ROLE {ident(name)} {login}")
    await conn.execute(f"COMMENT ON ROLE {ident(name)} IS '{COMMENT}'")
    if member_of:
        await conn.execute(f"GRANT {ident(member_of)} TO {ident(name)}")


async def set_password(conn: asyncpg.Connection, name: str, password: str) -> None:
    await conn.execute(f"ALTER ROLE {ident(name)} LOGIN PASSWORD '{scram_verifier(password)}'")


async def database_owner(conn: asyncpg.Connection, name: str) -> str | None:
    owner: str | None = await conn.fetchval(
        "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = $1", name
    )
    return owner


async def create_database(conn: asyncpg.Connection, name: str, owner: str) -> None:
    await conn.execute(f"CREATE DATABASE {ident(name)} OWNER {ident(owner)}")
    await conn.execute(f"COMMENT ON DATABASE {ident(name)} IS '{COMMENT}'")


async def ours(conn: asyncpg.Connection, kind: str, name: str) -> bool:
    """Whether install created this role or database (its comment says so)."""
    if kind == "database":
        query = "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = $1"
    else:
        query = "SELECT shobj_description(oid, 'pg_authid') FROM pg_roles WHERE rolname = $1"
    return bool(await conn.fetchval(query, name) == COMMENT)


async def pending_migrations(conn: asyncpg.Connection) -> list[str]:
    known = known_migrations()
    applied = await migrations.applied_versions(conn)
    migrations.check_not_newer(applied, known)
    return [m.name for m in known if m.version not in set(applied)]


async def migrate_as(conn: asyncpg.Connection, owner: str) -> list[str]:
    """Pending migrations as the owner, so that what they create is the owner's."""
    await conn.execute(f"SET ROLE {ident(owner)}")
    try:
        applied = await migrations.migrate(conn)
    except asyncpg.PostgresError as exc:
        raise StoreError(f"migrating failed: {type(exc).__name__} ({exc.sqlstate})") from None
    finally:
        await conn.execute("RESET ROLE")
    return [m.name for m in applied]


_PRIVILEGES = """
SELECT c.relname AS object, a.grantee::regrole::text AS grantee, a.privilege_type, '' AS col
  FROM pg_class c CROSS JOIN LATERAL aclexplode(c.relacl) a
 WHERE c.relnamespace = 'public'::regnamespace
UNION ALL
SELECT c.relname, a.grantee::regrole::text, a.privilege_type, att.attname
  FROM pg_attribute att JOIN pg_class c ON c.oid = att.attrelid
       CROSS JOIN LATERAL aclexplode(att.attacl) a
 WHERE c.relnamespace = 'public'::regnamespace
UNION ALL
SELECT n.nspname, a.grantee::regrole::text, a.privilege_type, ''
  FROM pg_namespace n CROSS JOIN LATERAL aclexplode(n.nspacl) a
 WHERE n.nspname = 'public'
"""


async def _privileges(conn: asyncpg.Connection) -> set[tuple[str, str, str, str]]:
    return {tuple(r) for r in await conn.fetch(_PRIVILEGES)}


async def apply_grants(conn: asyncpg.Connection, owner: str, commit: bool) -> bool:
    """``sql/grants.sql`` as the owner; whether it changed any privilege. Without ``commit``
    (a dry run, or nothing changed) the transaction is rolled back."""
    before = await _privileges(conn)
    tx = conn.transaction()
    await tx.start()
    try:
        await conn.execute(f"SET LOCAL ROLE {ident(owner)}")
        await conn.execute(sql_text("grants.sql"))
        changed = await _privileges(conn) != before
    except BaseException:
        await tx.rollback()
        raise
    if changed and commit:
        await tx.commit()
    else:
        await tx.rollback()
    return changed


async def missing_group_roles(conn: asyncpg.Connection, names: tuple[str, ...]) -> list[str]:
    found = {r["rolname"] for r in await conn.fetch(
        "SELECT rolname FROM pg_roles WHERE rolname = ANY($1)", list(names)
    )}  # fmt: skip
    return [n for n in names if n not in found]


async def create_group_roles(conn: asyncpg.Connection) -> None:
    await conn.execute(sql_text("roles.sql"))


async def count_calls(conn: asyncpg.Connection) -> int | None:
    if not await conn.fetchval("SELECT to_regclass('calls') IS NOT NULL"):
        return None
    return int(await conn.fetchval("SELECT count(*) FROM calls"))
