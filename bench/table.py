"""One table: each figure beside its goal, and whether the goal is met.

A run is also written as JSON (``python -m bench --json FILE``) with the date, commit, machine
and load it was measured on: ``docs/benchmarks.json`` is the one source of every figure the
documentation shows (the Benchmarks page is generated from it by ``python -m tools.docgen``).
"""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any


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


@dataclass(frozen=True, slots=True)
class Machine:
    cores: int
    cpu: str
    ram_gib: float
    postgresql: str
    python: str


@dataclass(frozen=True, slots=True)
class Run:
    """One run of ``python -m bench``: where and when it was measured, and its figures."""

    date: str  # ISO 8601, UTC, when the run started
    commit: str  # ``git describe --always --dirty`` of the code measured
    machine: Machine
    load_start: tuple[float, float, float]  # os.getloadavg() before and after the run
    load_end: tuple[float, float, float]
    minutes: float
    quick: bool
    sections: tuple[str, ...]
    figures: tuple[Figure, ...] = field(default=())

    def to_json(self) -> str:
        data = asdict(self)
        data["figures"] = [asdict(f) for f in self.figures]
        return json.dumps(data, indent=2, ensure_ascii=False) + "\n"

    @classmethod
    def from_json(cls, text: str) -> Run:
        data: Mapping[str, Any] = json.loads(text)
        return cls(
            date=str(data["date"]),
            commit=str(data["commit"]),
            machine=Machine(**data["machine"]),
            load_start=_load(data["load_start"]),
            load_end=_load(data["load_end"]),
            minutes=float(data["minutes"]),
            quick=bool(data["quick"]),
            sections=tuple(str(s) for s in data["sections"]),
            figures=tuple(Figure(**f) for f in data["figures"]),
        )

    def header(self) -> str:
        """One sentence: what was measured, where, when and under what load."""
        m = self.machine
        return (
            f"`python -m bench{' --quick' if self.quick else ''}` at `{self.commit}`, "
            f"{self.date.replace('T', ' ').replace('Z', ' UTC')}, {self.minutes:.1f} min; "
            f"{m.cores} cores ({m.cpu}), "
            f"{m.ram_gib:.1f} GiB RAM, PostgreSQL {m.postgresql}, Python {m.python}; load "
            f"average {_loads(self.load_start)} at the start, {_loads(self.load_end)} at the end."
        )


def _load(values: Sequence[float]) -> tuple[float, float, float]:
    one, five, fifteen = (float(v) for v in values)
    return (one, five, fifteen)


def _loads(values: Sequence[float]) -> str:
    return " / ".join(f"{v:.2f}" for v in values)


def render(figures: Sequence[Figure]) -> str:
    """A Markdown table: readable on a terminal, and the table of the Benchmarks page."""
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
