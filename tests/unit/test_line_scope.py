"""The line scope is written once in SQL (``in_scope()``, sql/0007_line_scope.sql) and every
named query that filters calls by line uses it (issue 19: the predicate was copied four times).
Its results and its plans: tests/db/test_line_scope.py."""

from __future__ import annotations

import re

from callback_desk.core.sqlfiles import queries

# What the predicate looks like written out: an array parameter compared with calls.extensions
# or calls.did.
WRITTEN_OUT = re.compile(r"extensions\s*&&|did\s*=\s*ANY\s*\(\s*\$", re.IGNORECASE)


def test_no_named_query_writes_the_line_scope_out() -> None:
    copies = [name for name, sql in queries().items() if WRITTEN_OUT.search(sql)]
    assert copies == [], f"use in_scope(lines, did, extensions) instead, in: {copies}"


def test_the_queries_that_filter_by_line_all_use_in_scope() -> None:
    # The awaiting queries filter by line in awaiting_in() (sql/0015_awaiting_count.sql), which
    # calls in_scope() itself; awaiting_callers() reads it.
    scoped = {
        name
        for name, sql in queries().items()
        if any(f in sql for f in ("in_scope(", "awaiting_callers(", "awaiting_in("))
    }
    assert scoped == {
        "awaiting_document",
        "awaiting_menu",
        "awaiting_menu_count",
        "awaiting_page",
        "report_returned",
        "report_week",
        "web_history_calls",
    }
