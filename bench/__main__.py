"""``python -m bench [--quick] [--only SECTION ...]``: every benchmark, one table.

Each figure stands beside its goal. Sections: throughput, latency, memory (the listener), agi
(AGI start), year (a year of a hosted PBX). ``--quick`` runs smaller sizes (minutes instead of a
quarter of an hour); the README's table comes from a full run. Progress goes to stderr, the
table to stdout. PostgreSQL: ``CALLBACK_DESK_BENCH_DSN`` or ``CALLBACK_DESK_TEST_DSN`` (a
server where scratch databases may be created and dropped).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import sys
import time
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import asyncpg

from bench import scratch
from bench.suite import FULL, QUICK, SECTIONS, run
from bench.table import render


async def machine(server: str) -> str:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in open("/proc/cpuinfo", encoding="ascii", errors="replace")
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    ram = next(
        int(line.split()[1]) / 1024**2
        for line in open("/proc/meminfo", encoding="ascii")
        if line.startswith("MemTotal:")
    )
    conn = await asyncpg.connect(server)
    try:
        pg = await conn.fetchval("SHOW server_version")
    finally:
        await conn.close()
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return (
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC; {os.cpu_count()} cores ({cpu}), "
        f"{ram:.1f} GiB RAM, PostgreSQL {pg}, Python {platform.python_version()}; "
        f"load average at start {load}"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Every benchmark, one table: each figure beside its goal.",
    )
    parser.add_argument("--quick", action="store_true", help="smaller sizes (a few minutes)")
    parser.add_argument("--only", nargs="+", choices=SECTIONS, default=list(SECTIONS))
    parser.add_argument(
        "--memory-calls",
        type=int,
        metavar="N",
        help="calls in the long memory run (default 2,000,000; --quick 100,000)",
    )
    parser.add_argument(
        "--profile",
        type=Path,
        metavar="DIR",
        help="write profiles here: the listener under cProfile, the classic AGI's imports "
        "(slows what they measure)",
    )
    args = parser.parse_args(argv)
    server = scratch.server_dsn()
    started = time.monotonic()
    header = asyncio.run(machine(server))
    if args.profile is not None:
        args.profile.mkdir(parents=True, exist_ok=True)
    sizes = QUICK if args.quick else FULL
    if args.memory_calls:
        sizes = replace(sizes, listener=replace(sizes.listener, flat_calls=args.memory_calls))
    figures = asyncio.run(run(server, sizes, args.only, args.profile))
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    minutes = (time.monotonic() - started) / 60
    sys.stdout.write(
        f"{header}; at the end {load}; {minutes:.1f} min{' (--quick)' if args.quick else ''}\n\n"
    )
    sys.stdout.write(render(figures) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
