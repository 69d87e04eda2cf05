from __future__ import annotations

import asyncpg
import pytest

from callback_desk.core import migrate
from callback_desk.core.exceptions import SchemaError
from callback_desk.core.sqlfiles import migrations, queries


async def test_migrate_applies_all_then_nothing(empty_db_dsn: str) -> None:
    conn = await asyncpg.connect(empty_db_dsn)
    try:
        applied = await migrate.migrate(conn)
        assert [m.version for m in applied] == [m.version for m in migrations()]
        assert await migrate.migrate(conn) == []
        recorded = await conn.fetch("SELECT version, name FROM schema_migrations ORDER BY 1")
        assert [(r["version"], r["name"]) for r in recorded] == [
            (m.version, m.name) for m in migrations()
        ]
        await migrate.check_current(conn)
    finally:
        await conn.close()


async def test_refuses_newer_schema(db_dsn: str) -> None:
    conn = await asyncpg.connect(db_dsn)
    try:
        await conn.execute("INSERT INTO schema_migrations (version, name) VALUES (999, 'future')")
        with pytest.raises(SchemaError, match=r"version 999 .* upgrade Callback Desk"):
            await migrate.migrate(conn)
        with pytest.raises(SchemaError, match="version 999"):
            await migrate.check_current(conn)
    finally:
        await conn.close()


async def test_unmigrated_database_is_reported(empty_db_dsn: str) -> None:
    conn = await asyncpg.connect(empty_db_dsn)
    try:
        with pytest.raises(SchemaError, match="run 'callback-desk migrate'"):
            await migrate.check_current(conn)
    finally:
        await conn.close()


async def test_concurrent_migrations_serialise(empty_db_dsn: str) -> None:
    import asyncio

    conns = [await asyncpg.connect(empty_db_dsn) for _ in range(3)]
    try:
        results = await asyncio.gather(*(migrate.migrate(c) for c in conns))
        assert sorted(len(r) for r in results) == [0, 0, len(migrations())]
    finally:
        for c in conns:
            await c.close()


def test_every_named_query_parses() -> None:
    assert "insert_call" in queries()
    assert all(q.strip() for q in queries().values())
