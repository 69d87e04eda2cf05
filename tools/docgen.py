"""``python -m tools.docgen [--check]``: write the generated parts of the documentation.

Two pages carry blocks that are generated, so that they cannot drift from what they describe:

- ``docs/configure.md``: every configuration key, its type and default, found by running the
  program's own loaders (:mod:`tools.settings_reference`), with its meaning from
  ``docs/settings.toml``;
- ``docs/benchmarks.md``: the figures of one ``python -m bench --json`` run, from
  ``docs/benchmarks.json``.

A generated block sits between ``<!-- generated: NAME ... -->`` and ``<!-- end generated: NAME
-->``; the prose around it is written by hand. ``--check`` changes nothing and exits 1 naming
each page whose block differs (``tests/unit/test_docs.py`` runs it).
"""

from __future__ import annotations

import argparse
import re
import sys
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.table import Run, render
from tools.settings_reference import Key, keys

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
SETTINGS_MEANINGS = DOCS / "settings.toml"
BENCHMARKS = DOCS / "benchmarks.json"


class DocsError(Exception):
    """The sources of a generated block are incomplete or inconsistent; the message says how."""


@dataclass(frozen=True, slots=True)
class Block:
    page: Path
    name: str
    source: str  # what to edit instead of the block
    render: Callable[[], str]


def _cell(text: str) -> str:
    # A pipe ends a table cell, even inside backticks, and its escape shows as "\|" in MkDocs'
    # code spans: a meaning says it in words instead.
    if "|" in text:
        raise DocsError(f"a table cell may not contain '|' (write it in words): {text}")
    return text.replace("\n", " ")


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, tuple | list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise DocsError(f"no way to show a default of type {type(value).__name__}: {value!r}")


def _kind(key: Key) -> str:
    kind = key.kind
    words = {
        "string": "text",
        "boolean (true/false)": "true/false",
        "list of strings": "list of text",
        "table": "table (file only)",
    }
    kind = words.get(kind, kind.replace(">=", "≥"))
    return f"{kind}, secret" if key.secret else kind


def _default(key: Key, shown: str | None) -> str:
    if shown is not None:
        return shown
    if key.required:
        return "**required**"
    if key.default is None:
        return "none"
    if key.kind == "table":
        return "empty"
    return f"`{_toml_value(key.default)}`"


def meanings() -> dict[str, dict[str, Any]]:
    with SETTINGS_MEANINGS.open("rb") as fh:
        return tomllib.load(fh)


def check_meanings(found: Sequence[Key], described: Mapping[str, Mapping[str, Any]]) -> None:
    """Every key the program reads has a meaning, and every meaning a key."""
    read = {(k.section, k.key) for k in found}
    written = {(s, k) for s, table in described.items() for k in table if k != "_about"}
    problems = [
        f"[{s}] {k} is read by the program but has no meaning in {SETTINGS_MEANINGS.name}"
        for s, k in sorted(read - written)
    ] + [
        f"[{s}] {k} is described in {SETTINGS_MEANINGS.name} but the program does not read it"
        for s, k in sorted(written - read)
    ]
    if problems:
        raise DocsError("\n".join(problems))


def configure_block() -> str:
    found = keys()
    described = meanings()
    check_meanings(found, described)
    by_section: dict[str, dict[str, Key]] = {}
    for key in found:
        by_section.setdefault(key.section, {})[key.key] = key
    out: list[str] = []
    for section, section_keys in by_section.items():
        table = described[section]
        out += [f"## [{section}]", ""]
        if "_about" in table:
            out += [str(table["_about"]), ""]
        out += ["| key | type | default | meaning |", "| --- | --- | --- | --- |"]
        for name in (k for k in table if k != "_about"):
            entry = table[name]
            meaning, shown = (
                (entry, None) if isinstance(entry, str) else (entry["meaning"], entry["default"])
            )
            key = section_keys[name]
            out.append(
                f"| `{name}` | {_kind(key)} | {_cell(_default(key, shown))} | {_cell(meaning)} |"
            )
        out.append("")
    return "\n".join(out).rstrip("\n")


def benchmarks_block() -> str:
    run = Run.from_json(BENCHMARKS.read_text(encoding="utf-8"))
    return f"{run.header()}\n\n{render(run.figures)}"


BLOCKS = (
    Block(
        DOCS / "configure.md",
        "settings",
        "docs/settings.toml and the loaders",
        configure_block,
    ),
    Block(DOCS / "benchmarks.md", "benchmarks", "docs/benchmarks.json", benchmarks_block),
)


def _markers(block: Block) -> tuple[str, str]:
    return (
        f"<!-- generated: {block.name} by `python -m tools.docgen` from {block.source}; "
        "do not edit by hand -->",
        f"<!-- end generated: {block.name} -->",
    )


def regenerate(block: Block, text: str) -> str:
    """``text`` (the page) with the block replaced by what its sources give now."""
    begin, end = _markers(block)
    pattern = re.compile(
        rf"^<!-- generated: {re.escape(block.name)}\b.*?-->\n.*?^{re.escape(end)}$",
        re.DOTALL | re.MULTILINE,
    )
    if len(pattern.findall(text)) != 1:
        raise DocsError(
            f"{block.page.relative_to(ROOT)} must contain the block '{begin}' ... '{end}' once"
        )
    replacement = f"{begin}\n\n{block.render()}\n\n{end}"
    return pattern.sub(lambda _m: replacement, text)


def stale(blocks: Sequence[Block] = BLOCKS) -> list[str]:
    """The pages whose generated blocks differ from their sources."""
    return [
        str(b.page.relative_to(ROOT))
        for b in blocks
        if regenerate(b, b.page.read_text(encoding="utf-8")) != b.page.read_text(encoding="utf-8")
    ]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.docgen",
        description="Write the generated parts of docs/ (settings, benchmarks).",
    )
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if stale")
    args = parser.parse_args(argv)
    try:
        if args.check:
            stale_pages = stale()
            for name in stale_pages:
                sys.stderr.write(f"{name} is stale: run python -m tools.docgen\n")
            return 1 if stale_pages else 0
        # Everything is rendered before anything is written: a source error changes no page.
        pages: dict[Path, str] = {}
        for block in BLOCKS:
            text = pages.get(block.page) or block.page.read_text(encoding="utf-8")
            pages[block.page] = regenerate(block, text)
        for page, text in pages.items():
            page.write_text(text, encoding="utf-8")
    except DocsError as exc:
        sys.stderr.write(f"python -m tools.docgen: {exc}\n")
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
