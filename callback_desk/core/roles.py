"""Least-privilege database roles: one NOLOGIN group role per component, granted per database.

``sql/roles.sql`` creates the roles (cluster-wide, idempotent, needs CREATEROLE);
``sql/grants.sql`` says what each may do in this database. ``callback-desk grant`` runs both;
``callback-desk migrate`` re-applies the grants after every upgrade once the roles exist, so a
table added by a migration is never left without its grants (or with stale ones).
"""

from __future__ import annotations

import logging

import asyncpg

from callback_desk.core.exceptions import StoreError
from callback_desk.core.sqlfiles import sql_text

logger = logging.getLogger(__name__)

ROLES = ("cbd_listener", "cbd_desk", "cbd_web", "cbd_report", "cbd_purge")


async def create_roles(conn: asyncpg.Connection) -> None:
    try:
        await conn.execute(sql_text("roles.sql"))
    except asyncpg.InsufficientPrivilegeError as exc:
        raise StoreError(
            "creating the database roles needs a PostgreSQL user with CREATEROLE "
            "(run 'callback-desk grant' as the database administrator, e.g. postgres)"
        ) from exc


async def roles_exist(conn: asyncpg.Connection) -> bool:
    found = await conn.fetchval("SELECT count(*) FROM pg_roles WHERE rolname = ANY($1)", ROLES)
    return int(found) == len(ROLES)


async def apply_grants(conn: asyncpg.Connection) -> None:
    """Revoke, then grant as ``sql/grants.sql`` says, in one transaction."""
    async with conn.transaction():
        await conn.execute(sql_text("grants.sql"))
    logger.info("Applied the database grants", extra={"action": "grants"})


async def grant(conn: asyncpg.Connection) -> None:
    await create_roles(conn)
    try:
        await apply_grants(conn)
    except asyncpg.InsufficientPrivilegeError as exc:
        raise StoreError(
            "granting needs the database's owner (who ran 'callback-desk migrate') or an "
            "administrator, not a component's login: permission denied"
        ) from exc
