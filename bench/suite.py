"""The benchmark suite: its sections, its sizes, and one function that runs them."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from bench import agi, hosted, listener
from bench.table import Figure

SECTIONS = ("throughput", "latency", "memory", "agi", "year")


@dataclass(frozen=True, slots=True)
class Sizes:
    listener: listener.ListenerSizes
    agi: agi.AgiSizes
    year: hosted.YearSizes


FULL = Sizes(listener.ListenerSizes(), agi.AgiSizes(), hosted.YearSizes())
QUICK = Sizes(
    listener.ListenerSizes(
        throughput_calls=1200,
        dense_calls=6000,
        latency=((10.0, 60), (200.0, 600)),
        burst_calls=2000,
        flat_calls=100_000,
        flat_batch=10_000,
    ),
    agi.AgiSizes(single=100, bursts=20, classic_sessions=50),
    hosted.YearSizes(calls=200_000, runs=3, menu_sessions=10),
)
# For the test suite: every path once, in seconds; the figures mean nothing.
SMOKE = Sizes(
    listener.ListenerSizes(
        throughput_calls=24,
        dense_calls=24,
        rounds=1,
        latency=((10.0, 4), (200.0, 24)),
        time_scale=0.02,
        settle=0.2,
        burst_calls=24,
        flat_calls=400,
        flat_batch=200,
        flat_open_cap=2,
    ),
    agi.AgiSizes(held=3, single=2, bursts=2, concurrency=3, classic_sessions=1, waiting_callers=4),
    hosted.YearSizes(calls=2000, runs=1, menu_sessions=2),
)


async def run(
    server: str, sizes: Sizes, only: Sequence[str], profile: Path | None = None
) -> list[Figure]:
    """Run the sections in ``only``; with ``profile`` (a directory), the throughput listener
    runs under cProfile and the classic AGI under ``-X importtime`` (their figures then carry
    the profiler's cost)."""
    wanted = frozenset(only)
    figures: list[Figure] = []
    listener_parts = frozenset(wanted & {"throughput", "latency", "memory"})
    steps: list[tuple[str, Callable[[], Awaitable[list[Figure]]]]] = []
    if listener_parts:
        steps.append(
            ("listener", lambda: listener.run(server, sizes.listener, listener_parts, profile))
        )
    if "agi" in wanted:
        steps.append(("agi", lambda: agi.run(server, sizes.agi, profile)))
    if "year" in wanted:
        steps.append(("year", lambda: hosted.run(server, sizes.year)))
    for name, step in steps:
        started = time.monotonic()
        figures += await step()
        listener.log(f"{name}: {time.monotonic() - started:.1f} s")
    return figures
