"""Live updates: PostgreSQL NOTIFY from the triggers reaches every subscriber, also after the
LISTEN connection was cut (the server redials and tells everyone to re-read)."""

from __future__ import annotations

import asyncio

from callback_desk.core.config import Secret
from callback_desk.core.store import Store
from callback_desk.web.live import Changes
from fakes.poll import until
from tests.web_support import add_caller


async def test_writes_anywhere_reach_subscribers_and_survive_a_cut_connection(
    db_dsn: str, store: Store
) -> None:
    changes = Changes(Secret(db_dsn), reconnect_max=0.5)
    await changes.start()
    try:
        await until(lambda: changes.listening, what="LISTEN")
        with changes.subscribe() as first, changes.subscribe() as second:
            call_id = await add_caller(store, "a")
            await asyncio.wait_for(first.get(), 5)
            await asyncio.wait_for(second.get(), 5)
            await store.pool.execute(
                "INSERT INTO caller_dispositions (call_id, disposition) VALUES ($1, 'handled')",
                call_id,
            )
            await asyncio.wait_for(first.get(), 5)
            # PostgreSQL restarts, or a network blip: the listening backend is gone.
            killed = await store.pool.fetchval(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND query LIKE 'LISTEN%'"
            )
            assert killed == 1
            await until(lambda: changes.connects == 2, timeout=15, what="LISTEN again")
            # Reconnecting announces a change (anything may have happened meanwhile)...
            await asyncio.wait_for(first.get(), 5)
            # ...and notifications flow again.
            await store.pool.execute(
                "INSERT INTO callback_attempts (call_id, extension) VALUES ($1, '101')", call_id
            )
            await asyncio.wait_for(first.get(), 5)
    finally:
        await changes.stop()
    assert not changes.listening


async def test_the_web_benchmark_runs(pg_server_dsn: str) -> None:
    # No timing asserted: this only keeps `python -m bench.web` from rotting.
    from bench.web import run

    figures = await run(pg_server_dsn, samples=3)
    assert [f.section for f in figures] == ["6 web", "6 web"]
    assert "(3 calls)" in figures[0].result
