"""The documentation cannot drift from what it describes.

`mkdocs build --strict` (CI's lint step) checks the links and anchors inside docs/. These check
the rest: the README stays a front page whose links exist; the Configure and Benchmarks pages
are what their sources generate; no page quotes a benchmark figure by hand; every command a
page shows runs (tests/unit/test_docs_commands.py). Every repository path a page names exists:
tests/unit/test_references.py (pages, code comments and docstrings alike).
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from bench.table import Run
from callback_desk.core.config import KNOWN_SECTIONS
from tools import docgen, settings_reference

ROOT = next(p for p in Path(__file__).resolve().parents if (p / "pyproject.toml").exists())
README = ROOT / "README.md"
DOCS = ROOT / "docs"
PAGES = [*sorted(DOCS.glob("*.md")), README]
# A front page, not a manual: the manual is docs/ (issue 19: starlette's is ~140 lines).
README_MAX_LINES = 150


def test_the_readme_is_a_front_page() -> None:
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) < README_MAX_LINES, (
        f"README.md has {len(lines)} lines (limit {README_MAX_LINES}): move the detail into a "
        "page under docs/ and link to it"
    )


def test_every_link_in_the_readme_points_at_a_file_that_exists() -> None:
    text = README.read_text(encoding="utf-8")
    targets = re.findall(r"\]\(([^)\s]+)\)", text) + re.findall(r'src="([^"]+)"', text)
    local = [t.split("#")[0] for t in targets if "://" not in t and not t.startswith("#")]
    assert local, "the README links into docs/"
    missing = [t for t in local if not (ROOT / t).exists()]
    assert not missing, f"README.md links to files that do not exist: {missing}"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_no_table_cell_escapes_a_pipe(page: Path) -> None:
    # A code host needs "\|" in a table cell, MkDocs shows it as "\|" in a code span: say it in
    # words ("`--format FORMAT`: `text`, `csv`...") so both read right.
    assert "\\|" not in page.read_text(encoding="utf-8")


# -- generated blocks: Configure and Benchmarks cannot drift from their sources ----------------


def test_the_generated_pages_are_what_their_sources_give() -> None:
    assert docgen.stale() == [], "run: .venv/bin/python -m tools.docgen"


def test_every_section_the_program_knows_has_its_keys_on_the_configure_page() -> None:
    found = {key.section for key in settings_reference.keys()}
    assert found == set(KNOWN_SECTIONS), (
        f"no loader in tools/settings_reference.py reads {sorted(set(KNOWN_SECTIONS) - found)}"
    )


def test_a_key_without_a_meaning_fails_and_says_which() -> None:
    keys = settings_reference.keys()
    new = settings_reference.Key("web", "nap_minutes", "int >= 1", 30, False)
    with pytest.raises(docgen.DocsError, match=r"\[web\] nap_minutes is read by the program"):
        docgen.check_meanings([*keys, new], docgen.meanings())
    gone = [k for k in keys if (k.section, k.key) != ("ami", "port")]
    with pytest.raises(docgen.DocsError, match=r"\[ami\] port is described .* does not read"):
        docgen.check_meanings(gone, docgen.meanings())


def test_a_hand_edit_inside_a_generated_block_is_found(tmp_path: Path) -> None:
    block = docgen.BLOCKS[0]
    page = tmp_path / block.page.name
    text = block.page.read_text(encoding="utf-8")
    page.write_text(text.replace("| `5038`", "| `5039`", 1), encoding="utf-8")
    moved = dataclasses.replace(block, page=page)
    assert docgen.regenerate(moved, page.read_text(encoding="utf-8")) == text
    assert docgen.regenerate(moved, text) == text


# -- benchmark figures: one source (docs/benchmarks.json), no figure quoted by hand ------------


def test_a_bench_run_survives_its_json() -> None:
    run = Run.from_json((DOCS / "benchmarks.json").read_text(encoding="utf-8"))
    assert run.figures, "docs/benchmarks.json holds no figure"
    assert Run.from_json(run.to_json()) == run
    header = run.header()
    for fact in (run.commit, run.date[:10], run.machine.cpu, run.machine.postgresql):
        assert fact in header


# What a measured figure looks like: a time or size with its unit, a ratio with decimals, a rate,
# a percentile with its value.
FIGURE = re.compile(
    r"""(?x)
    \d[\d,.]*\s?(?:ms|µs|MiB|KiB|GiB|MB|GB)\b
  | \b\d+\.\d+\s?[x\u00d7](?!\w)
  | \b\d[\d,.]*\s?(?:events|rows|calls|sessions|frames|requests)/s\b
  | \bp(?:50|90|95|99)\s+\d
  | \b\d+\.\d+\s?s\b
    """
)
# Numbers with units that are not measurements: each says what it is instead.
NOT_FIGURES = {
    "1 MiB": "amiframe.MAX_FRAME, the bound on an AMI frame (a limit, not a measurement)",
    "every 2 ms": "how often bench polls for a row (a harness setting)",
    "every 1.5 s": "the soak test's call rate (a test parameter)",
    "16 KiB": "web.views.base.MAX_FORM_BYTES, the bound on an inbox form (a limit)",
}


def _stray_figures(text: str) -> list[str]:
    for phrase in NOT_FIGURES:
        text = text.replace(phrase, "")
    return [m.group(0) for m in FIGURE.finditer(text)]


def _without_generated_benchmarks(text: str) -> str:
    return re.sub(
        r"<!-- generated: benchmarks\b.*?<!-- end generated: benchmarks -->", "", text, flags=re.S
    )


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_no_page_quotes_a_benchmark_figure_by_hand(page: Path) -> None:
    stray = _stray_figures(_without_generated_benchmarks(page.read_text(encoding="utf-8")))
    assert not stray, (
        f"{page.name} quotes {stray}: figures come from docs/benchmarks.json (the Benchmarks "
        "page); link to it instead, or if this is a limit or a setting, say so in NOT_FIGURES"
    )


def test_the_stray_figure_check_catches_the_old_contradiction() -> None:
    times, dash = "\u00d7", "\u2013"  # the README's own characters
    old = f"rows committed (0.62{dash}0.68{times}; goal 0.9{times} not met), p99 16{dash}121 ms"
    assert _stray_figures(old) == [f"0.68{times}", f"0.9{times}", "p99 1", "121 ms"]
    assert _stray_figures("at 10 calls/s, 2.094x (1.692x-2.299x)") == [
        "10 calls/s",
        "2.094x",
        "1.692x",
        "2.299x",
    ]
