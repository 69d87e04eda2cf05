"""Where the plain-SQL files live, and how they are read.

The numbered migrations and ``queries*.sql`` sit in the repository's top-level ``sql/`` folder,
where a DBA reads them; a wheel carries the same files as package data, ``callback_desk/sql``
(hatch force-include in pyproject.toml), read through :mod:`importlib.resources` so a zipped or
otherwise non-file install works too. An editable install (a source checkout) has no
``callback_desk/sql``: then the checkout's ``sql/`` is used.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

from callback_desk.core.exceptions import SchemaError
from callback_desk.core.typeshim import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable

_MIGRATION_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")
_QUERY_HEADER = re.compile(r"^-- name: ([a-z_][a-z0-9_]*)\s*$", re.MULTILINE)


def sql_dir() -> Traversable:
    # A plain directory first (an installed wheel, a checkout): importlib.resources costs the
    # classic AGI's start ~6 ms of imports, and is only needed for a zipped install.
    here = Path(__file__).resolve()
    for plain in (here.parents[1] / "sql", here.parents[2] / "sql"):
        if (plain / "queries.sql").is_file():
            return plain
    from importlib.resources import files

    packaged = files("callback_desk").joinpath("sql")
    if packaged.joinpath("queries.sql").is_file():
        return packaged
    raise SchemaError("the SQL files are missing from this install; reinstall Callback Desk")


def _sql_files(directory: Traversable) -> list[Traversable]:
    return sorted((f for f in directory.iterdir() if f.name.endswith(".sql")), key=lambda f: f.name)


def sql_text(name: str) -> str:
    """A plain SQL file of ``sql/`` that is neither a migration nor named queries."""
    return (sql_dir() / name).read_text("utf-8")


class Migration(NamedTuple):  # not a dataclass: see callback_desk.core.awaiting
    """One numbered file of ``sql/``."""

    version: int
    name: str
    sql: str


def migrations(directory: Traversable | None = None) -> list[Migration]:
    directory = directory or sql_dir()
    found: list[Migration] = []
    for path in _sql_files(directory):
        match = _MIGRATION_NAME.match(path.name)
        if match:
            found.append(Migration(int(match[1]), path.name[:-4], path.read_text("utf-8")))
    versions = [m.version for m in found]
    if versions != list(range(1, len(found) + 1)):
        raise SchemaError(f"migrations in {directory} are not numbered 0001, 0002, ...: {versions}")
    return found


def parse_queries(text: str) -> dict[str, str]:
    parts = _QUERY_HEADER.split(text)
    queries: dict[str, str] = {}
    for name, body in zip(parts[1::2], parts[2::2], strict=True):
        if name in queries:
            raise SchemaError(f"query {name!r} is defined twice in queries.sql")
        queries[name] = body.strip()
    return queries


@cache
def queries() -> dict[str, str]:
    """Every named query of ``sql/queries*.sql`` (one file per feature), by name."""
    merged: dict[str, str] = {}
    for path in _sql_files(sql_dir()):
        if not path.name.startswith("queries"):
            continue
        for name, text in parse_queries(path.read_text("utf-8")).items():
            if name in merged:
                raise SchemaError(f"query {name!r} is defined twice (again in {path.name})")
            merged[name] = text
    return merged
