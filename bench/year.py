"""A year of a busy hosted PBX, generated in PostgreSQL, and what a user waits for on it.

The data set (``generate``), made by a few ``INSERT ... SELECT ... generate_series`` statements so
that 2,000,000 calls take minutes, not hours:

- 500 DIDs (``2000``-``2499``) on 4 PBX names (``PBX_NAMES``); DID ``2000+i`` rings extension
  ``100+i``; a practice is 5 consecutive DIDs (100 practices), and one call in five rings the
  neighbouring desk too (a ring group). Dial strings take every shape FreePBX produces
  (``PJSIP/100``, ``100@phones``, ``Local/100@from-queue/n``, ``PJSIP/100/sip:...``,
  ``100@ext-local/n``), so scopes go through ``line_extension()`` as in production.
- Repeat callers: 400,000 numbers drawn with a heavy skew (a few call very often); 1 % withheld.
- 12 % outbound answered calls (returns), inbound: about 11 % missed, 10 % voicemail, the rest
  answered — 9.6 % of all calls missed, as on the PBX the issue measured (192,588 of 2,000,000).
- About one missed call in five gets a desk callback within 30 hours (55 % answered), one in
  forty a verdict (80 % handled, 20 % never).

What is measured (``measure``) — the goals are issue 11's:

- the desk menu's first query (``*47``), the count of callers: one extension, and all lines;
  and the list it reads while the count is said (all lines);
- one practice's morning report, end to end as a command (``callback-desk report --for ...``);
- a report over at least 10,000 waiting callers, as a command (all lines, a long look-back).

Usage (creates a scratch database next to the DSN's, drops it at the end unless --keep)::

    .venv/bin/python -m bench.year --dsn postgresql://postgres@127.0.0.1/postgres [--calls 2000000]
        [--plans]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from agi.queries import Callbacks
from bench import scratch
from callback_desk.core import migrate, phone
from callback_desk.core.awaiting import awaiting
from callback_desk.core.connection import SERVER_SETTINGS
from callback_desk.core.sqlfiles import queries

DIDS = 500
PRACTICE_DIDS = 5
PBX_NAMES = ("hosted-a", "hosted-b", "hosted-c", "hosted-d")


def extension_of(did: str) -> str:
    """The desk a DID rings first: DID ``2000 + i`` rings extension ``100 + i``."""
    return str(100 + int(did) - 2000)


# One statement per table; $1 = calls, $2 = the end of the year. Random draws are made in an
# inner SELECT so each row gets its own (a volatile function is evaluated once per row there).
_CALLS = """
WITH draw AS (
    SELECT g, random() AS a, random() AS b, random() AS c, random() AS d, random() AS e,
           random() AS f, random() AS h, random() AS k
    FROM generate_series(1, $1::int) AS g
),
shaped AS (
    SELECT g,
           floor(500 * power(b, 1.5))::int                                  AS did_i,
           floor(400000 * power(a, 3))::int                                 AS caller_i,
           d < 0.01                                                         AS withheld,
           CASE WHEN e < 0.12 THEN 'outbound' ELSE 'inbound' END            AS direction,
           CASE WHEN e < 0.12 THEN 'answered'
                WHEN f < 0.109 THEN 'missed'
                WHEN f < 0.209 THEN 'voicemail'
                ELSE 'answered' END                                          AS outcome,
           floor(h * 5)::int                                                AS shape,
           k < 0.2                                                          AS ring_group,
           $2::timestamptz - c * interval '365 days'                        AS started_at,
           f
    FROM draw
),
numbered AS (
    SELECT s.*, (2000000000 + s.caller_i * 7)::text AS national,
           (100 + s.did_i)::text AS ext, (100 + (s.did_i + 1) % 500)::text AS ext2
    FROM shaped s
)
INSERT INTO calls (pbx, linkedid, direction, outcome, reason, number, name, number_key,
                   callable, did, rang, started_at, ended_at, ring_seconds, reached_voicemail)
SELECT ($3::text[])[1 + did_i % 4],
       'year-' || g,
       direction,
       outcome,
       CASE outcome WHEN 'answered' THEN 'answered' WHEN 'voicemail' THEN 'voicemail_left'
            ELSE (ARRAY['hangup_while_ringing', 'no_answer', 'voicemail_greeting',
                        'queue_abandoned', 'ivr_hangup'])[1 + g % 5] END,
       CASE WHEN withheld THEN 'anonymous' WHEN g % 2 = 0 THEN national ELSE '+1' || national END,
       CASE WHEN g % 3 = 0 THEN 'Caller ' || caller_i ELSE '' END,
       CASE WHEN withheld THEN NULL ELSE '+1' || national END,
       NOT withheld,
       CASE WHEN direction = 'inbound' THEN (2000 + did_i)::text ELSE '' END,
       CASE WHEN direction = 'outbound' THEN ARRAY['+1' || national || '@trunk']
            WHEN outcome = 'answered' AND f > 0.5 THEN ARRAY[ext || '@phones']
            ELSE ARRAY[(ARRAY['PJSIP/' || ext, ext || '@phones', 'Local/' || ext
                              || '@from-queue/n', 'PJSIP/' || ext || '/sip:' || ext
                              || '@10.0.0.9:5060', ext || '@ext-local/n'])[1 + shape]]
                 || CASE WHEN ring_group THEN ARRAY['Local/' || ext2 || '@from-queue/n']
                         ELSE '{}'::text[] END END,
       started_at,
       started_at + interval '40 seconds',
       CASE WHEN outcome = 'missed' THEN 12 ELSE 6 END,
       outcome = 'missed' AND g % 4 = 0
FROM numbered
-- In time order, as the listener writes them: a day's calls share heap pages, as in production.
ORDER BY started_at
"""

_ATTEMPTS = """
WITH picked AS (
    SELECT id, started_at + random() * interval '30 hours' AS at, random() AS s,
           (100 + (did::int - 2000))::text AS ext
    FROM calls
    WHERE outcome = 'missed' AND callable AND random() < 0.2
)
INSERT INTO callback_attempts (call_id, extension, started_at, ended_at, dial_status,
                               talk_seconds)
SELECT id, ext, at, at + interval '1 minute',
       CASE WHEN s < 0.55 THEN 'ANSWER' WHEN s < 0.85 THEN 'NOANSWER' ELSE 'BUSY' END,
       CASE WHEN s < 0.55 THEN 60 ELSE 0 END
FROM picked
WHERE at < $1::timestamptz
"""

_DISPOSITIONS = """
INSERT INTO caller_dispositions (call_id, number_key, disposition, extension, decided_at)
SELECT id, number_key, CASE WHEN random() < 0.8 THEN 'handled' ELSE 'never' END,
       (100 + (did::int - 2000))::text, least(started_at + random() * interval '2 days', $1)
FROM calls
WHERE outcome = 'missed' AND random() < 0.025
"""


@dataclass(frozen=True)
class Shape:
    calls: int
    missed: int
    attempts: int
    dispositions: int
    seconds: float


async def generate(
    conn: asyncpg.Connection, calls: int, end: datetime, seed: float = 0.42
) -> Shape:
    """Fill a migrated, empty database with ``calls`` calls ending at ``end``."""
    started = time.perf_counter()
    await conn.execute("SELECT setseed($1)", seed)
    await conn.execute(_CALLS, calls, end, list(PBX_NAMES))
    await conn.execute(_ATTEMPTS, end)
    await conn.execute(_DISPOSITIONS, end)
    # As autovacuum would have left a year's database by the morning (the test server may run
    # without it): every table analysed and its visibility map set, the kept state that the
    # triggers filled included, not only the tables written here.
    await conn.execute("VACUUM ANALYZE")
    await scratch.checkpoint(conn)  # the year was written in seconds, not over a year
    counts = await conn.fetchrow(
        "SELECT (SELECT count(*) FROM calls) AS calls,"
        " (SELECT count(*) FROM calls WHERE outcome = 'missed') AS missed,"
        " (SELECT count(*) FROM callback_attempts) AS attempts,"
        " (SELECT count(*) FROM caller_dispositions) AS dispositions"
    )
    return Shape(**dict(counts), seconds=time.perf_counter() - started)


@dataclass(frozen=True)
class Figure:
    what: str
    median_ms: float
    worst_ms: float
    goal_ms: float
    note: str = ""

    @property
    def met(self) -> bool:
        return self.worst_ms < self.goal_ms


async def _timed(run: Callable[[], Awaitable[object]], repeat: int) -> tuple[float, float]:
    await run()  # warm the cache and the prepared statement, as a running service would be
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        await run()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times), max(times)


def _command(argv: Sequence[str], repeat: int, pycache: Path) -> tuple[float, float]:
    """Median and worst of ``repeat`` runs of a command, as an installed one runs: with its
    modules' bytecode (pip writes it at install; a checkout run with PYTHONDONTWRITEBYTECODE
    would compile every module from source on every run). The first, untimed run pays for the
    OS's file cache and writes that bytecode to ``pycache``, outside the checkout; a report's
    first run also keeps the numbers' forms it works out (sql/0016_number_forms.sql), as the
    previous day's report would have."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(pycache)
    times = []
    for _ in range(repeat + 1):
        t = time.perf_counter()
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, env=env)
        times.append((time.perf_counter() - t) * 1000)
    times = times[1:]
    return statistics.median(times), max(times)


def practice_of(did_i: int) -> list[str]:
    """The DIDs and extensions of the practice that owns DID ``2000 + did_i``."""
    first = did_i - did_i % PRACTICE_DIDS
    dids = [str(2000 + i) for i in range(first, first + PRACTICE_DIDS)]
    return dids + [str(100 + i) for i in range(first, first + PRACTICE_DIDS)]


async def measure(dsn: str, end: datetime, *, repeat: int = 10) -> list[Figure]:
    """Every figure of the year, against the data ``generate`` left in ``dsn``."""
    figures: list[Figure] = []
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=2, server_settings=SERVER_SETTINGS)
    assert pool is not None
    try:
        desk = Callbacks(pool)
        since = end - timedelta(days=14)
        # The busiest desk: DIDs are skewed, so extension 100 (DID 2000) takes the most calls.
        # What the desk waits for is the count (awaiting_menu_count); the list follows while
        # the count is said (a second or more of speech), so its goal is that.
        for what, scope in (
            ("*47 first query (the count), one extension", ("100",)),
            ("*47 first query (the count), all lines", ("*",)),
        ):
            med, worst = await _timed(lambda s=scope: desk.waiting_count(s, since, end), repeat)  # type: ignore[misc]
            n = await desk.waiting_count(scope, since, end)
            figures.append(Figure(what, med, worst, 20, f"{n} callers"))
        med, worst = await _timed(lambda: desk.waiting(("*",), since, end), repeat)
        n = len(await desk.waiting(("*",), since, end))
        figures.append(
            Figure(
                "*47 list (read during the count), all lines",
                med,
                worst,
                1000,
                f"{n} callers",
            )
        )
        long_since = end - timedelta(days=75)
        many = await awaiting(pool, scope=("*",), now=end, lookback=end - long_since)
    finally:
        await pool.close()

    with tempfile.TemporaryDirectory(prefix="cbd-year-") as tmp:
        config = Path(tmp) / "callback-desk.toml"
        config.write_text(f'[database]\ndsn = "{dsn}"\n[pbx]\ntimezone = "UTC"\n', "utf-8")
        base = [sys.executable, "-m", "callback_desk.cli", "--config", str(config), "report"]
        until = ["--until", end.isoformat()]
        covers = [a for x in practice_of(0) for a in ("--for", x)]
        pycache = Path(tmp) / "pycache"
        med, worst = _command([*base, *until, *covers], repeat, pycache)
        figures.append(Figure("morning report, one practice (command)", med, worst, 300))
        med, worst = _command(
            [*base, *until, "--since", long_since.isoformat(), "--format", "json", "--no-week"],
            max(repeat // 3, 1),
            pycache,
        )
        figures.append(
            Figure(
                "report over 75 days, all lines, JSON (command)",
                med,
                worst,
                1000,
                f"{len(many)} callers",
            )
        )
    return figures


async def plans(dsn: str, end: datetime) -> str:
    """EXPLAIN (ANALYZE, BUFFERS) of the queries people wait on: each reads the kept state
    (awaiting_calls) by its time index, never the year's calls."""
    conn = await asyncpg.connect(dsn, server_settings=SERVER_SETTINGS)
    q = queries()
    since = end - timedelta(days=14)
    practice = practice_of(0)
    cases = [
        ("*47, a desk hearing every line (awaiting_menu_count)", q["awaiting_menu_count"],
         (since, end, None)),
        ("*47, one desk (awaiting_menu_count)", q["awaiting_menu_count"],
         (since, end, ["2000", "100"])),
        ("*47, a desk hearing every line (awaiting_menu)", q["awaiting_menu"],
         (since, end, None, end, True)),
        ("*47, one desk (awaiting_menu)", q["awaiting_menu"],
         (since, end, ["2000", "100"], end, True)),
        ("morning report, one practice (awaiting_document)", q["awaiting_document"],
         (since, end, practice, end, False, "US", phone.rules())),
        ("inbox first page, front desk (awaiting_page)", q["awaiting_page"],
         (since, end, None, end, False, None, 50, 0)),
        ("inbox search by the last digits, front desk (awaiting_page)", q["awaiting_page"],
         (since, end, None, end, False, "0007", 50, 0)),
        ("report over 75 days, all lines (awaiting_document)", q["awaiting_document"],
         (end - timedelta(days=75), end, None, end, False, "US", phone.rules())),
        ("report_week, one practice", q["report_week"],
         (end - timedelta(days=7), end, "UTC", practice)),
    ]  # fmt: skip
    out = []
    try:
        for title, sql, args in cases:
            rows = await conn.fetch(f"EXPLAIN (ANALYZE, BUFFERS) {sql}", *args)
            out.append(f"-- {title}\n" + "\n".join(r[0] for r in rows))
    finally:
        await conn.close()
    return "\n\n".join(out)


def _with_database(dsn: str, name: str) -> str:
    return urlunsplit(urlsplit(dsn)._replace(path="/" + name))


def table(shape: Shape, figures: Sequence[Figure]) -> str:
    lines = [
        f"year: {shape.calls:,} calls, {shape.missed:,} missed, {shape.attempts:,} callback "
        f"attempts, {shape.dispositions:,} verdicts (generated in {shape.seconds:.0f} s)",
        f"{'what':<44} {'median':>9} {'worst':>9} {'goal':>8}  ",
    ]
    for f in figures:
        lines.append(
            f"{f.what:<44} {f.median_ms:>7.1f}ms {f.worst_ms:>7.1f}ms {f.goal_ms:>6.0f}ms  "
            f"{'met' if f.met else 'NOT MET'}  {f.note}"
        )
    return "\n".join(lines)


async def run(dsn: str, calls: int, *, keep: bool, show_plans: bool, repeat: int) -> int:
    name = f"cbd_year_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(dsn)
    await admin.execute(f'CREATE DATABASE "{name}"')
    scratch = _with_database(dsn, name)
    end = datetime.now(UTC).replace(microsecond=0)
    try:
        conn = await asyncpg.connect(scratch)
        try:
            await migrate.migrate(conn)
            shape = await generate(conn, calls, end)
        finally:
            await conn.close()
        print(table(shape, await measure(scratch, end, repeat=repeat)))
        if show_plans:
            print()
            print(await plans(scratch, end))
    finally:
        if keep:
            print(f"kept database {name}")
        else:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.year", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--dsn", default=os.environ.get("CALLBACK_DESK_TEST_DSN", ""))
    parser.add_argument("--calls", type=int, default=2_000_000)
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument(
        "--plans", action="store_true", help="print EXPLAIN (ANALYZE, BUFFERS) of the main queries"
    )
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    args = parser.parse_args(argv)
    if not args.dsn:
        parser.error("--dsn (or CALLBACK_DESK_TEST_DSN) is required")
    return asyncio.run(
        run(args.dsn, args.calls, keep=args.keep, show_plans=args.plans, repeat=args.repeat)
    )


if __name__ == "__main__":
    sys.exit(main())
