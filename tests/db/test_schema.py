"""The schema as code sees it: the vocabulary, the snapshot, every named query, the packaging.

Regenerate ``sql/schema.sql`` after adding a migration::

    CALLBACK_DESK_WRITE_SCHEMA=1 .venv/bin/pytest -q tests/db/test_schema.py -k snapshot
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import zipfile
from enum import StrEnum
from pathlib import Path

import asyncpg
import pytest

from callback_desk.core.model import DialStatus, Direction, Disposition, Outcome, Reason
from callback_desk.core.sqlfiles import queries

REPO = Path(__file__).resolve().parents[2]
SNAPSHOT = REPO / "sql" / "schema.sql"
CODE = ("callback_desk", "agi", "ami_listener", "bench")


@pytest.mark.parametrize(
    ("table", "constraint", "enum"),
    [
        ("calls", "calls_direction_check", Direction),
        ("calls", "calls_outcome_check", Outcome),
        ("calls", "calls_reason_check", Reason),
        ("callback_attempts", "callback_attempts_dial_status_check", DialStatus),
        ("caller_dispositions", "caller_dispositions_disposition_check", Disposition),
    ],
)
async def test_check_constraints_admit_exactly_the_enums(
    db_dsn: str, table: str, constraint: str, enum: type[StrEnum]
) -> None:
    conn = await asyncpg.connect(db_dsn)
    try:
        definition = await conn.fetchval(
            "SELECT pg_get_constraintdef(oid) FROM pg_constraint"
            " WHERE conrelid = $1::regclass AND conname = $2",
            table,
            constraint,
        )
    finally:
        await conn.close()
    assert definition is not None, f"{constraint} is missing"
    assert set(re.findall(r"'([^']*)'", definition)) == {e.value for e in enum}


async def test_a_value_outside_the_vocabulary_is_refused(db_dsn: str) -> None:
    conn = await asyncpg.connect(db_dsn)
    try:
        with pytest.raises(asyncpg.CheckViolationError, match="calls_reason_check"):
            await conn.execute(
                "INSERT INTO calls (pbx, linkedid, direction, outcome, reason, number, callable,"
                " started_at, ended_at) VALUES ('p', '1', 'inbound', 'missed', 'hung_up', '1',"
                " false, now(), now())"
            )
    finally:
        await conn.close()


def _normalised(dump: str) -> str:
    """pg_dump's text without what differs between runs and versions: comments, SET lines,
    blank lines, the restrict/unrestrict keys of newer pg_dump releases."""
    kept = []
    for line in dump.splitlines():
        if not line.strip() or line.startswith(("--", "SET ", "SELECT pg_catalog.set_config")):
            continue
        if line.startswith(("\\restrict", "\\unrestrict")):
            continue
        kept.append(line.rstrip())
    return "\n".join(kept) + "\n"


def _pg_dump(dsn: str) -> str:
    binary = shutil.which("pg_dump")
    if binary is None:
        pytest.skip("pg_dump is not installed (postgresql-client)")
    result = subprocess.run(
        [binary, "--schema-only", "--no-owner", "--no-privileges", "--dbname", dsn],
        check=True,
        capture_output=True,
        text=True,
    )
    return _normalised(result.stdout)


async def test_schema_snapshot_is_what_the_migrations_build(db_dsn: str) -> None:
    current = _pg_dump(db_dsn)
    if os.environ.get("CALLBACK_DESK_WRITE_SCHEMA") == "1":
        header = (
            "-- The schema the migrations build, for reading (pg_dump --schema-only, normalised).\n"
            "-- Generated: CALLBACK_DESK_WRITE_SCHEMA=1 .venv/bin/pytest tests/db/test_schema.py\n"
            "-- Never applied: the numbered migrations are the source of truth.\n"
        )
        SNAPSHOT.write_text(header + current, "utf-8")
    assert current == _normalised(SNAPSHOT.read_text("utf-8")), (
        "sql/schema.sql is stale: regenerate it (see this module's docstring)"
    )


# Names the code looks up: queries()["x"], self._q["x"], q["x"].
_LOOKUP = re.compile(r"""(?:queries\(\)|self\._q|\bq)\[\s*["']([a-z_0-9]+)["']\s*\]""")


def _code() -> dict[Path, str]:
    return {
        path: path.read_text("utf-8") for package in CODE for path in (REPO / package).rglob("*.py")
    }


def test_every_named_query_the_code_uses_exists_and_none_is_unused() -> None:
    code = _code()
    used = {name for text in code.values() for name in _LOOKUP.findall(text)}
    defined = set(queries())
    assert used - defined == set(), "the code uses queries that sql/queries*.sql lacks"
    everything = "\n".join(code.values())
    unused = {name for name in defined if f'"{name}"' not in everything}
    assert unused == set(), "named queries nothing uses (prune them)"


async def test_every_named_query_prepares_against_the_schema(db_dsn: str) -> None:
    conn = await asyncpg.connect(db_dsn)
    try:
        for name, sql in queries().items():
            try:
                await conn.prepare(sql)
            except asyncpg.PostgresError as exc:
                pytest.fail(f"query {name!r} does not prepare: {exc}")
    finally:
        await conn.close()


def test_a_wheel_carries_the_sql_as_package_data(tmp_path: Path) -> None:
    # The wheel is imported from the zip itself: importlib.resources must find every file there.
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(REPO)],
        check=True,
        capture_output=True,
    )
    [wheel] = tmp_path.glob("callback_desk-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    shipped = sorted(n.removeprefix("callback_desk/sql/") for n in names if "/sql/" in n)
    assert shipped == sorted(p.name for p in (REPO / "sql").glob("*.sql"))
    probe = (
        "from callback_desk.core.sqlfiles import migrations, queries, sql_dir; "
        "print(type(sql_dir()).__module__.split('.')[0], len(migrations()), len(queries()))"
    )
    out = subprocess.run(
        [sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {str(wheel)!r}); {probe}"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    assert out == ["zipfile", str(len(list((REPO / "sql").glob("0*.sql")))), str(len(queries()))]
