"""Every repository path the code's comments and docstrings, the SQL's comments and the Markdown
pages name exists (issue 19: comments pointed at ``shared/ASTERISK-NOTES.md`` and
``tests/test_vocabulary.py``, which are not in the repository).

What counts as a path reference (:func:`references`), in prose with URLs taken out first:

- a slashed path whose first part is a top-level file or folder of the repository
  (``agi/policy.py``, ``tests/lab/``, ``sql/0003_awaiting.sql``);
- any other slashed path ending in a file name with an extension the repository's own files
  use (``shared/ASTERISK-NOTES.md``, ``views/base.py``);
- a bare file name ending in ``.py``, ``.sql`` or ``.md`` (``tracker.py``).

A slashed path exists when it names a tracked file or folder from the repository's root or from
the folder of the file that names it; ``*`` and ``{a,b}`` are globs and must match at least one.
A bare name exists when some tracked file has that name. A path that lives elsewhere is listed
in :data:`ELSEWHERE` with where; a placeholder is written in angle brackets
(``tests/data/<name>.ami``), which ends the path there. Absolute paths (``/etc/asterisk``), dial
strings (``PJSIP/100``), time zones (``America/New_York``) and MIME types are not references:
their first part is not the repository's and they end in no extension of its files.
"""

from __future__ import annotations

import ast
import fnmatch
import io
import re
import subprocess
import tokenize
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# Paths named on purpose that are not in this repository, and where they are.
ELSEWHERE = {
    "callback_desk/sql": "where the wheel carries sql/ (pyproject.toml, force-include)",
    "callback_desk/samples": "where the wheel carries deploy/ and the PBX samples (force-include)",
    "tests/browser/node_modules": "where npm ci installs axe-core (tests/browser/package.json)",
    "site/index.html": "what `mkdocs build` writes (not committed)",
    "installlib/SQL/cdr.sql": "FreePBX's framework repository",
}

_URL = re.compile(r"\b[a-z][a-z0-9+.-]*://\S+")
_PART = r"(?:[\w.+*-]|\{[\w.,-]+\})+"
_SLASHED = re.compile(rf"(?<![\w./@:~$<>-])(\.?{_PART}(?:/{_PART})+/?)")
_BARE = re.compile(r"(?<![\w./@:~$<>*-])([\w-]+\.(?:py|sql|md))\b(?![/\w*<>-])")


@cache
def tracked() -> tuple[str, ...]:
    out = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    return tuple(line for line in out.splitlines() if (ROOT / line).exists())


@cache
def _entries() -> frozenset[str]:
    """Every tracked file and every folder above one, relative to the root."""
    entries: set[str] = set()
    for path in tracked():
        parts = path.split("/")
        entries.update("/".join(parts[:n]) for n in range(1, len(parts) + 1))
    return frozenset(entries)


@cache
def _top_level() -> frozenset[str]:
    return frozenset(path.split("/")[0] for path in tracked())


@cache
def _extensions() -> frozenset[str]:
    return frozenset(Path(p).suffix for p in tracked() if Path(p).suffix)


@cache
def _file_names() -> frozenset[str]:
    return frozenset(Path(p).name for p in tracked())


def references(text: str) -> Iterator[str]:
    """The repository paths ``text`` names (see the module docstring)."""
    prose = _URL.sub(" ", text)
    for match in _SLASHED.finditer(prose):
        path = match.group(1).rstrip(".,")
        first = path.split("/")[0]
        suffix = Path(path.rstrip("/")).suffix
        if first in _top_level() or (suffix and suffix in _extensions()):
            yield path
    for match in _BARE.finditer(prose):
        yield match.group(1)


def _braces(path: str) -> list[str]:
    match = re.search(r"\{([^{}]*)\}", path)
    if not match:
        return [path]
    return [
        expanded
        for choice in match.group(1).split(",")
        for expanded in _braces(path[: match.start()] + choice + path[match.end() :])
    ]


def _exists(path: str, folder: str) -> bool:
    for candidate in _braces(path.rstrip("/")):
        for base in {"", folder}:
            full = f"{base}/{candidate}" if base else candidate
            full = str(Path(full))  # folds "./" and "a/../b" as written
            if any(fnmatch.fnmatchcase(entry, full) for entry in _entries()):
                break
        else:
            return False
    return True


def missing(text: str, folder: str = "") -> list[str]:
    """The paths ``text`` (in a file of ``folder``) names that do not exist."""
    found = []
    for path in references(text):
        if "/" in path:
            if path.rstrip("/") in ELSEWHERE or _exists(path, folder):
                continue
        elif path in _file_names():
            continue
        found.append(path)
    return found


def python_prose(source: str) -> Iterator[tuple[int, str]]:
    """(line, text) of every comment and docstring of a Python file."""
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            yield token.start[0], token.string
    for node in ast.walk(ast.parse(source)):
        if isinstance(
            node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef
        ) and (doc := ast.get_docstring(node, clean=False)):
            body = node.body[0]
            yield body.lineno, doc


def prose(path: str) -> Iterator[tuple[int, str]]:
    text = (ROOT / path).read_text(encoding="utf-8")
    if path.endswith(".py"):
        yield from python_prose(text)
    elif path.endswith(".sql"):
        for number, line in enumerate(text.splitlines(), 1):
            if "--" in line:
                yield number, line[line.index("--") :]
    else:  # Markdown: all of it
        yield from enumerate(text.splitlines(), 1)


def checked_files() -> list[str]:
    # This file names missing paths on purpose (its examples).
    this = str(Path(__file__).resolve().relative_to(ROOT))
    return [p for p in tracked() if p.endswith((".py", ".sql", ".md")) and p != this]


def test_the_files_checked_are_the_code_the_sql_and_the_pages() -> None:
    files = checked_files()
    for expected in ("ami_listener/tracker.py", "sql/0003_awaiting.sql", "README.md"):
        assert expected in files
    assert any(p.startswith("docs/") for p in files) and len(files) > 150


@pytest.mark.parametrize(
    "directory", sorted({p.split("/")[0] for p in checked_files() if "/" in p} | {"."})
)
def test_every_path_named_in_prose_exists(directory: str) -> None:
    broken = [
        f"{path}:{line}: {name}"
        for path in checked_files()
        if (directory == "." and "/" not in path) or path.startswith(directory + "/")
        for line, text in prose(path)
        for name in missing(text, str(Path(path).parent).replace(".", ""))
    ]
    assert not broken, "paths that do not exist:\n" + "\n".join(broken)


@pytest.mark.parametrize(
    ("text", "found"),
    [
        # The stale references of issue 19.
        ("What counts (shared/ASTERISK-NOTES.md 4a-4c):", ["shared/ASTERISK-NOTES.md"]),
        ("admit exactly these values (tests/test_vocabulary.py compares them)",
         ["tests/test_vocabulary.py"]),
        ("see `ASTERISK-NOTES.md`, and ghost.py", ["ASTERISK-NOTES.md", "ghost.py"]),
        ("the lab (tests/lab/nowhere/), docs/listener.md#reasons", ["tests/lab/nowhere/"]),
        ("cp deploy/callback-desk-{report,ghost}.service",
         ["deploy/callback-desk-{report,ghost}.service"]),
        ("sql/queries_*.sql and sql/nothing_*.sql", ["sql/nothing_*.sql"]),
        ("views/base.py, from the root", ["views/base.py"]),
        # Not references, or references that exist.
        ("Dial(PJSIP/100@phones&Local/100@from-queue/n), America/New_York, text/html", []),
        ("/etc/asterisk/manager.conf and ~/.config/x.py", []),
        ("https://github.com/asterisk/asterisk/blob/master/main/nothing.c", []),
        ("ami_listener/tracker.py, tests/lab/NOTES.md, sql/, tracker.py.", []),
        ("cp deploy/callback-desk-{listener,agi}.service, tests/data/lab_c*.csv", []),
        ("tests/data/<name>.ami, region_<XX>.py, <name>.sql", []),
        ("FreePBX: framework installlib/SQL/cdr.sql", []),
    ],
)  # fmt: skip
def test_what_counts_as_a_path_reference(text: str, found: list[str]) -> None:
    assert missing(text) == found


def test_a_path_is_also_found_from_the_folder_of_the_file_that_names_it() -> None:
    assert missing("views/base.py and etc/pbx/extensions.conf", "callback_desk/web") == [
        "etc/pbx/extensions.conf"
    ]
    assert missing("etc/pbx/extensions.conf", "tests/lab") == []
