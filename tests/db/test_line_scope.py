"""``in_scope()`` (sql/0007_line_scope.sql) against a real PostgreSQL: it answers as the Python
twin does (callback_desk/core/scope.py), and PostgreSQL inlines it, so every query that uses it
keeps the index-backed plan of the predicate written out."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import asyncpg

from callback_desk.core.scope import ALL_LINES, in_scope, sql_lines
from callback_desk.core.sqlfiles import queries


async def test_sql_and_python_agree_on_every_small_case(owner_dsn: str) -> None:
    scopes = [(ALL_LINES,), (), ("2000",), ("100",), ("2000", "101"), ("2001", ALL_LINES)]
    dids = ["", "2000", "2001"]
    extension_lists: list[tuple[str, ...]] = [(), ("100",), ("101",), ("100", "101"), ("102",)]
    cases = list(itertools.product(scopes, dids, extension_lists))
    conn = await asyncpg.connect(owner_dsn)
    try:
        in_sql = [
            await conn.fetchval(
                "SELECT in_scope($1::text[], $2, $3::text[])", sql_lines(scope), did, list(exts)
            )
            for scope, did, exts in cases
        ]
    finally:
        await conn.close()
    in_python = [in_scope(scope, did, exts) for scope, did, exts in cases]
    assert in_sql == in_python
    assert any(in_python) and not all(in_python)


async def test_postgresql_inlines_it_and_keeps_the_index(owner_dsn: str) -> None:
    # The test table is tiny: with sequential scans off, the plan shows whether the index can
    # still serve the time range under the scope. VERBOSE shows each filter as planned: the
    # function's body in place of its name.
    end = datetime.now(UTC)
    conn = await asyncpg.connect(owner_dsn)
    try:
        await conn.execute("SET enable_seqscan = off")
        # The awaiting queries read the kept state (sql/0009_awaiting_state.sql).
        kept = "using awaiting_calls_"  # by time, or by caller with the time in the condition
        for name, args, index in [
            (
                "awaiting_document",
                (end - timedelta(days=14), end, ["2000", "101"], end, False),
                kept,
            ),
            ("awaiting_menu", (end - timedelta(days=14), end, ["2000", "101"], end, True), kept),
            ("awaiting_menu_count", (end - timedelta(days=14), end, ["2000", "101"]), kept),
            (
                "awaiting_page",
                (end - timedelta(days=14), end, ["2000", "101"], end, False, None, 50, 0),
                kept,
            ),
            ("report_returned", (end - timedelta(days=14), end, ["2000", "101"]), None),
            ("report_week", (end - timedelta(days=7), end, "UTC", ["2000", "101"]), None),
        ]:
            rows = await conn.fetch(f"EXPLAIN (VERBOSE) {queries()[name]}", *args)
            plan = "\n".join(r[0] for r in rows)
            assert "in_scope" not in plan, f"{name}: not inlined\n{plan}"
            assert "awaiting_in" not in plan, f"{name}: awaiting_in() not inlined\n{plan}"
            index = index or "calls_missed_started_idx"
            assert index in plan, f"{name}: the time range lost its index\n{plan}"
            assert "&&" in plan and "ANY" in plan, f"{name}: the scope is not filtered\n{plan}"
    finally:
        await conn.close()


# Dial strings of every shape the listener stores (sql/0003_awaiting.sql), and ones that name no
# extension, repeated so that lists hold duplicates.
DIALS: list[str | None] = [
    "PJSIP/100",
    "100@phones",
    "PJSIP/100/sip:100@host",
    "Local/101@from-queue/n",
    "Local/FMGL-102#@from-internal",
    "100",
    "/x",
    "",
    "@",
]


async def test_line_extensions_gives_what_its_general_form_gives(owner_dsn: str) -> None:
    """sql/0014_listener_batches.sql: the inlinable form (no dial string or one) and the subquery
    (any number) agree on every list, including NULL elements, NULL and other array shapes."""
    lists: list[list[str | None]] = [[]]
    lists += [[d] for d in [*DIALS, None]]
    lists += [list(pair) for pair in itertools.product([*DIALS[:4], None], repeat=2)]
    lists += [list(DIALS), list(reversed(DIALS))]
    conn = await asyncpg.connect(owner_dsn)
    try:
        for dials in lists:
            fast, general = await conn.fetchrow(
                "SELECT line_extensions($1::text[]), line_extensions_of_many($1::text[])", dials
            )
            assert fast == general, dials
        for literal in ["[3:3]={PJSIP/100}", "{{PJSIP/100}}", "{{PJSIP/100,101@phones}}"]:
            same = await conn.fetchval(
                "SELECT line_extensions($1::text::text[])"
                " IS NOT DISTINCT FROM line_extensions_of_many($1::text::text[])",
                literal,
            )
            assert same, literal
        assert await conn.fetchval("SELECT line_extensions(NULL) IS NULL")
    finally:
        await conn.close()


async def test_postgresql_inlines_line_extensions(owner_dsn: str) -> None:
    # The point of its form: the stored column calls.extensions costs a substring() per call,
    # not an SQL function's executor start per row (a third of the listener's batch insert).
    conn = await asyncpg.connect(owner_dsn)
    try:
        rows = await conn.fetch("EXPLAIN (VERBOSE) SELECT line_extensions(rang) FROM calls")
        plan = "\n".join(r[0] for r in rows)
    finally:
        await conn.close()
    assert "line_extensions(" not in plan and "line_extensions_of_many(" in plan, plan
