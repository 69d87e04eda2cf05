"""One table: each figure beside its goal, and whether the goal is met."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Figure:
    section: str
    measure: str
    result: str
    goal: str = ""
    met: bool | None = None  # None: no goal, or nothing to judge (not built yet)

    @property
    def verdict(self) -> str:
        if self.met is None:
            return "—" if not self.goal else "not measured"
        return "met" if self.met else "**NOT MET**"


def render(figures: Sequence[Figure]) -> str:
    """A Markdown table: readable on a terminal, pasted as is into the README."""
    rows = [("", "measure", "result", "goal", "")]
    rows += [(f.section, f.measure, f.result, f.goal, f.verdict) for f in figures]
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    lines = []
    for n, row in enumerate(rows):
        lines.append("| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |")
        if n == 0:
            lines.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100) of a non-empty sample."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("no values")
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:,.1f} ms"


def spread(values: Sequence[float], fmt: str = "{:.2f}") -> str:
    """median (min-max) of repeated runs."""
    if len(values) == 1:
        return fmt.format(values[0])
    return (
        f"{fmt.format(statistics.median(values))} "
        f"({fmt.format(min(values))}-{fmt.format(max(values))})"
    )
