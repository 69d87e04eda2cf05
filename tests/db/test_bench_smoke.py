"""Every benchmark at toy sizes, so that ``python -m bench`` cannot rot unnoticed.

No timing is asserted (speed is judged by ``python -m bench`` on a quiet machine): this only
proves each section still drives the real processes end to end and fills in its figures.
"""

from __future__ import annotations

from bench.suite import SECTIONS, SMOKE, run


async def test_every_benchmark_runs_at_toy_sizes(pg_server_dsn: str) -> None:
    figures = await run(pg_server_dsn, SMOKE, SECTIONS)
    sections = {f.section.split()[0] for f in figures}
    assert sections == {"1", "2", "3", "4", "5"}
    goals = [f for f in figures if f.goal]
    assert len(goals) >= 11
    assert all(f.result for f in figures)
    # A figure that failed to measure says so in its result rather than pretending.
    assert not [f for f in figures if "failed" in f.result], figures
