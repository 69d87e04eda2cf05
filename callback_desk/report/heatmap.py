"""Missed calls by weekday and hour: the same grid as text, inline SVG and an HTML table.

Only counts reach these renderers (no caller data), so the SVG needs no escaping beyond the
labels we write ourselves. Email clients strip SVG, hence the table form for mail.
"""

from __future__ import annotations

from collections.abc import Sequence

DAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_SHADES = " ░▒▓█"
# Light to dark: white, then steps of one blue; readable in dark and light mail clients.
_COLOURS = ("#ffffff", "#dbe9f6", "#9ecae1", "#4292c6", "#08519c")

Grid = Sequence[Sequence[int]]


def level(count: int, peak: int, levels: int) -> int:
    """0 for no calls; otherwise 1..levels-1 in proportion to the busiest hour."""
    if count <= 0 or peak <= 0:
        return 0
    return max(1, min(levels - 1, -(-count * (levels - 1) // peak)))


def _peak(grid: Grid) -> int:
    return max((max(row) for row in grid), default=0)


def text(grid: Grid) -> str:
    peak = _peak(grid)
    header = "     " + "".join(f"{h:<2}" if h % 3 == 0 else "  " for h in range(24))
    rows = [header.rstrip()]
    for name, row in zip(DAY_NAMES, grid, strict=True):
        cells = "".join(_SHADES[level(n, peak, len(_SHADES))] * 2 for n in row)
        rows.append(f"{name}  {cells}|  {sum(row)}")
    rows.append(f"     ░ fewest … █ most missed calls in one hour (busiest: {peak})")
    return "\n".join(rows)


def svg(grid: Grid) -> str:
    cell, left, top = 14, 34, 16
    width, height = left + 24 * cell + 2, top + 7 * cell + 2
    peak = _peak(grid)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'width="100%" role="img" aria-label="Missed calls by weekday and hour" '
        f'style="max-width:{width * 2}px;font:9px sans-serif">'
    ]
    for hour in range(0, 24, 3):
        parts.append(f'<text x="{left + hour * cell}" y="{top - 4}">{hour}</text>')
    for day, (name, row) in enumerate(zip(DAY_NAMES, grid, strict=True)):
        y = top + day * cell
        parts.append(f'<text x="0" y="{y + cell - 3}">{name}</text>')
        for hour, count in enumerate(row):
            colour = _COLOURS[level(count, peak, len(_COLOURS))]
            parts.append(
                f'<rect x="{left + hour * cell}" y="{y}" width="{cell - 1}" height="{cell - 1}" '
                f'fill="{colour}" stroke="#ccc" stroke-width="0.5">'
                f"<title>{name} {hour:02d}:00 {count} missed</title></rect>"
            )
    parts.append("</svg>")
    return "".join(parts)


def html_table(grid: Grid) -> str:
    peak = _peak(grid)
    head = "".join(f"<th>{h if h % 3 == 0 else ''}</th>" for h in range(24))
    rows = []
    for name, row in zip(DAY_NAMES, grid, strict=True):
        cells = "".join(
            f'<td style="background:{_COLOURS[level(n, peak, len(_COLOURS))]};'
            f'width:10px;height:10px" title="{n}"></td>'
            for n in row
        )
        rows.append(f"<tr><th>{name}</th>{cells}</tr>")
    return (
        '<table class="heat" style="border-collapse:collapse;font-size:9px">'
        f"<tr><th></th>{head}</tr>{''.join(rows)}</table>"
    )
