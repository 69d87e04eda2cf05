"""What every PostgreSQL connection of Callback Desk sets, whichever client opens it: asyncpg
(:mod:`callback_desk.core.store`) or the classic AGI's synchronous one
(:mod:`callback_desk.core.pgwire`)."""

from __future__ import annotations

from collections.abc import Sequence

from callback_desk.core.typeshim import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from typing import Any

# Per connection. JIT off: every query here is short and index-driven, but the planner's cost
# estimates for the lateral look-ups cross jit_above_cost, and compiling them costs 0.25-0.35 s
# for a query that runs in milliseconds. statement_timeout just under command_timeout: a slow
# query is cancelled by the server and reported as StoreTimeout, while the client-side timeout
# (a TimeoutError, which asyncpg also raises for a connect that hangs) keeps meaning
# "unreachable". Migrations lift the limit for their own transaction (migrate.py).
# force_custom_plan: asyncpg prepares every statement, and after five runs PostgreSQL may
# switch to a generic plan, blind to "$3 IS NULL" (every line) and to the window's bounds; for
# the awaiting query that plan is 15x slower (35 ms instead of 2.3 ms, bench/year.py). Planning
# each run costs about 1-2 ms.
COMMAND_TIMEOUT = 60.0
SERVER_SETTINGS = {
    "jit": "off",
    "statement_timeout": f"{int(COMMAND_TIMEOUT - 5)}s",
    "plan_cache_mode": "force_custom_plan",
}


class Queryable(Protocol):
    """What the named queries need of a database: an asyncpg pool or connection, or the classic
    AGI's :class:`callback_desk.core.pgwire.WirePool`. Rows are mappings by column name."""

    async def fetch(self, query: str, *args: Any) -> Sequence[Any]: ...
    async def fetchrow(self, query: str, *args: Any) -> Any: ...
    async def fetchval(self, query: str, *args: Any) -> Any: ...
