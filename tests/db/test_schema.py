"""The schema as code sees it: the vocabulary, the snapshot, every named query, the packaging.

Regenerate ``sql/schema.sql`` after adding a migration::

    CALLBACK_DESK_WRITE_SCHEMA=1 .venv/bin/pytest -q tests/db/test_schema.py -k snapshot
"""

from __future__ import annotations

import importlib.util
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


def _major(version_text: str) -> int | None:
    """15 from "pg_dump (PostgreSQL) 15.20 (Debian 15.20-0+deb12u1)"."""
    found = re.search(r"\(PostgreSQL\) (\d+)", version_text)
    return int(found[1]) if found else None


def pg_dump_candidates() -> list[Path]:
    """Every pg_dump this machine has: the embedded server's own (pgserver), each installed
    PostgreSQL's (Debian keeps one per major version), the one on PATH."""
    found: list[Path] = []
    spec = importlib.util.find_spec("pgserver")
    if spec is not None and spec.origin is not None:
        found.append(Path(spec.origin).parent / "pginstall" / "bin" / "pg_dump")
    found += sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_dump"), reverse=True)
    on_path = shutil.which("pg_dump")
    if on_path is not None:
        found.append(Path(on_path))
    return [path for path in dict.fromkeys(found) if path.is_file()]


def pg_dump_for(major: int) -> Path:
    """A pg_dump of the server's own major version: an older one refuses a newer server, and a
    newer one writes the dump in its own way. Fails, naming what it found, when there is none."""
    seen = []
    for binary in pg_dump_candidates():
        version = subprocess.run(
            [binary, "--version"], capture_output=True, text=True, check=False
        ).stdout.strip()
        if _major(version) == major:
            return binary
        seen.append(f"{binary} ({version or 'no version'})")
    pytest.fail(
        f"no pg_dump for PostgreSQL {major}: found {', '.join(seen) or 'none'} "
        f"(install postgresql-client-{major}, or the test extra's pgserver for its own server)"
    )


async def _pg_dump(dsn: str) -> str:
    conn = await asyncpg.connect(dsn)
    try:
        major = int(await conn.fetchval("SHOW server_version_num")) // 10000
    finally:
        await conn.close()
    result = subprocess.run(
        [pg_dump_for(major), "--schema-only", "--no-owner", "--no-privileges", "--dbname", dsn],
        check=True,
        capture_output=True,
        text=True,
    )
    return _normalised(result.stdout)


async def test_schema_snapshot_is_what_the_migrations_build(db_dsn: str) -> None:
    current = await _pg_dump(db_dsn)
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
