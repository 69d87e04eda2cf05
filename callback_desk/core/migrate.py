"""Apply pending numbered migrations from ``sql/`` in one transaction, recording each one.

Concurrent runs (two hosts upgrading at once) serialise on an advisory lock; a database whose
recorded schema is newer than the files this code ships is refused rather than touched.
"""

from __future__ import annotations

from callback_desk.core import lazylog
from callback_desk.core.exceptions import SchemaError
from callback_desk.core.sqlfiles import Migration, migrations
from callback_desk.core.typeshim import TYPE_CHECKING

if TYPE_CHECKING:
    # check_current also reads through the small synchronous client (a report as a command,
    # callback_desk.report.command), which does not load asyncpg.
    import asyncpg

# Lazy: the report on screen checks the schema (check_current) and logs nothing.
logger = lazylog.get(__name__)

# Arbitrary but fixed: "CBDK" in ASCII. Shared by every Callback Desk process.
_LOCK_KEY = 0x4342444B

_BOOKKEEPING = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    integer PRIMARY KEY,
    name       text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)
"""


async def applied_versions(conn: asyncpg.Connection) -> list[int]:
    exists = await conn.fetchval("SELECT to_regclass('schema_migrations') IS NOT NULL")
    if not exists:
        return []
    rows = await conn.fetch("SELECT version FROM schema_migrations ORDER BY version")
    return [int(r["version"]) for r in rows]


def check_not_newer(applied: list[int], known: list[Migration]) -> None:
    newest = max(applied, default=0)
    if newest > len(known):
        raise SchemaError(
            f"the database schema is at version {newest} but this Callback Desk knows only up to "
            f"{len(known)}; upgrade Callback Desk instead of running an older version against it"
        )


async def migrate(conn: asyncpg.Connection) -> list[Migration]:
    """Apply what is pending; return what was applied (empty when up to date)."""
    known = migrations()
    async with conn.transaction():
        # A migration may rewrite a large table; the connection's statement_timeout (store.py)
        # is for queries, not for this transaction.
        await conn.execute("SET LOCAL statement_timeout = 0")
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _LOCK_KEY)
        await conn.execute(_BOOKKEEPING)
        applied = await applied_versions(conn)
        check_not_newer(applied, known)
        pending = [m for m in known if m.version not in set(applied)]
        for migration in pending:
            logger.info("Applying migration %s", migration.name, extra={"action": "migrate"})
            await conn.execute(migration.sql)
            await conn.execute(
                "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                migration.version,
                migration.name,
            )
        # Every upgrade re-applies the per-component grants (sql/grants.sql), so a new table
        # arrives with them; before `callback-desk grant` has created the roles there is
        # nothing to grant to.
        from callback_desk.core import roles  # it loads asyncpg: see the imports

        if await roles.roles_exist(conn):
            await roles.apply_grants(conn)
    return pending


async def check_current(conn: asyncpg.Connection) -> None:
    """Refuse to run against a schema that is missing, behind, or ahead of this code."""
    known = migrations()
    applied = await applied_versions(conn)
    check_not_newer(applied, known)
    if len(applied) < len(known):
        raise SchemaError(
            f"the database schema is at version {max(applied, default=0)}, this Callback Desk "
            f"needs {len(known)}: run 'callback-desk migrate'"
        )
