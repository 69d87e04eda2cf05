"""Line scope: which missed calls a desk, a therapist's report or the inbox may see.

A scope is a tuple of lines: DIDs (the number the caller dialled, e.g. ``2000`` or
``+12125550100``) and extensions (``100``), or ``"*"`` for every line. A call is in scope when its
DID is listed or one of the extensions it rang is. Those extensions come from the database's
``calls.extensions`` column, which ``line_extension()`` (sql/0003_awaiting.sql) derives once from
the dial strings Asterisk reports (``PJSIP/100``, ``100@phones``, ``Local/100@from-queue/n``...);
nothing in Python parses a dial string.
"""

from __future__ import annotations

from collections.abc import Sequence

ALL_LINES = "*"


def sql_lines(scope: Sequence[str]) -> list[str] | None:
    """The ``text[]`` parameter of the scoped queries: None means every line."""
    return None if ALL_LINES in scope else list(scope)


def in_scope(scope: Sequence[str], did: str, extensions: Sequence[str]) -> bool:
    """The Python twin of SQL's ``in_scope(lines, did, extensions)`` (sql/0007_line_scope.sql),
    for one call already read (same inputs; the SQL takes NULL for every line)."""
    return ALL_LINES in scope or did in scope or any(e in scope for e in extensions)
