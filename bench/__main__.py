"""``python -m bench [--quick] [--only SECTION ...] [--json [FILE]]``: every benchmark, one table.

Each figure stands beside its goal. Sections: throughput, latency, memory (the listener), agi
(AGI start), year (a year of a hosted PBX). ``--quick`` runs smaller sizes (minutes instead of a
quarter of an hour). Progress goes to stderr, the table to stdout; ``--json FILE`` also writes
the run (date, commit, machine, load, every figure) to FILE, ``--json`` alone prints it instead
of the table. The documentation's figures come from one such file, ``docs/benchmarks.json``
(``python -m bench --json docs/benchmarks.json``, then ``python -m tools.docgen``). PostgreSQL:
``CALLBACK_DESK_BENCH_DSN`` or ``CALLBACK_DESK_TEST_DSN`` (a server where scratch databases may
be created and dropped).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import asyncpg

from bench import scratch
from bench.suite import FULL, QUICK, SECTIONS, run
from bench.table import Machine, Run, render


def commit() -> str:
    """The code measured: ``git describe --always --dirty`` ("unknown" outside a checkout)."""
    try:
        proc = subprocess.run(
            ["git", "describe", "--always", "--dirty", "--abbrev=12"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return proc.stdout.strip() or "unknown"


def load() -> tuple[float, float, float]:
    one, five, fifteen = (round(x, 2) for x in os.getloadavg())
    return (one, five, fifteen)


async def machine(server: str) -> Machine:
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
    return Machine(
        cores=os.cpu_count() or 0,
        cpu=cpu,
        ram_gib=round(ram, 1),
        postgresql=str(pg),
        python=platform.python_version(),
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
    parser.add_argument(
        "--json",
        nargs="?",
        const="-",
        metavar="FILE",
        help="also write the run as JSON to FILE (date, commit, machine, load, figures); "
        "without FILE, print the JSON instead of the table",
    )
    args = parser.parse_args(argv)
    server = scratch.server_dsn()
    # The harness's variables are no setting of the product's: a process measured with
    # CALLBACK_DESK_BENCH_DSN in its environment warns of an unknown setting and, to say so,
    # reads every feature's settings (a classic AGI or a report start paid for it).
    for name in [n for n in os.environ if n.startswith("CALLBACK_DESK_")]:
        del os.environ[name]
    started = time.monotonic()
    date = f"{datetime.now(UTC):%Y-%m-%dT%H:%MZ}"
    load_start = load()
    host = asyncio.run(machine(server))
    if args.profile is not None:
        args.profile.mkdir(parents=True, exist_ok=True)
    sizes = QUICK if args.quick else FULL
    if args.memory_calls:
        sizes = replace(sizes, listener=replace(sizes.listener, flat_calls=args.memory_calls))
    figures = asyncio.run(run(server, sizes, args.only, args.profile))
    result = Run(
        date=date,
        commit=commit(),
        machine=host,
        load_start=load_start,
        load_end=load(),
        minutes=round((time.monotonic() - started) / 60, 1),
        quick=args.quick,
        sections=tuple(args.only),
        figures=tuple(figures),
    )
    if args.json == "-":
        sys.stdout.write(result.to_json())
        return 0
    if args.json is not None:
        Path(args.json).write_text(result.to_json(), encoding="utf-8")
    sys.stdout.write(result.header() + "\n\n" + render(figures) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
