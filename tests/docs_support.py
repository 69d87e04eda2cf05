"""The commands the documentation shows, read from its pages (tests/unit/test_docs_commands.py and
tests/db/test_docs_run.py check them).

Every line of a ```sh block (continuation lines joined), every ``$ `` line of a plain block, and
every inline span that is a command (`callback-desk ...`, `python -m ...`, `.venv/bin/...`).
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

ROOT = next(p for p in Path(__file__).resolve().parents if (p / "pyproject.toml").exists())
PAGES = [*sorted((ROOT / "docs").glob("*.md")), ROOT / "README.md"]

# An inline code span that is a command: `callback-desk ...`, `python -m ...`, `.venv/bin/...`.
_INLINE = re.compile(
    r"`((?:[A-Z_]+=[^\s`]+ )*(?:callback-desk|python3? -m|\.venv/bin/[^\s`]+|pytest)(?: [^`]*)?)`"
)


@dataclass(frozen=True, slots=True)
class Shown:
    page: str
    line: str

    def __str__(self) -> str:
        return f"{self.page}: {self.line}"


def code_lines(text: str) -> list[str]:
    lines: list[str] = []
    fence: str | None = None
    pending = ""
    for raw in text.splitlines():
        stripped = raw.strip()
        if stripped.startswith("```"):
            fence = None if fence is not None else stripped[3:].strip()
            continue
        if fence == "sh":
            if stripped.endswith("\\"):
                pending += stripped[:-1] + " "
                continue
            lines.append(pending + stripped)
            pending = ""
        elif fence == "" and stripped.startswith("$ "):
            lines.append(stripped[2:])
        elif fence is None:
            lines += [m for m in _INLINE.findall(raw) if ": " not in m]
    return [line for line in lines if line and not line.startswith("#")]


def shown_commands() -> list[Shown]:
    return [
        Shown(page.name, line)
        for page in PAGES
        for line in code_lines(page.read_text(encoding="utf-8"))
    ]


_SUBSTITUTION = re.compile(r"\$\(([^()]*)\)")


def simple_commands(line: str) -> list[list[str]]:
    """The simple commands of a shell line, each as its words (comments and redirections out).
    A command substitution, ``$(...)``, is a command of its own."""
    inner = [c for found in _SUBSTITUTION.findall(line) for c in simple_commands(found)]
    line = _SUBSTITUTION.sub("SUBSTITUTED", line)
    # A pipe inside backquoted Markdown alternatives (`add\\|passwd`) is not a shell pipe.
    line = line.replace("\\|", "|ALT|")
    try:
        words = shlex.split(line, comments=True)
    except ValueError:
        words = line.split()
    commands: list[list[str]] = [[]]
    for word in words:
        if word in ("&&", "||", ";", "|") or word.endswith(";"):
            if word.endswith(";") and word != ";":
                commands[-1].append(word[:-1])
            commands.append([])
        elif word.startswith((">", "<", "2>")):
            continue
        else:
            commands[-1].append(word.replace("|ALT|", "|"))
    return [c for c in commands if c] + inner


def program_of(words: list[str]) -> tuple[str, list[str]]:
    """The program a simple command runs (past VAR=x, sudo -u U, env, exec) and its arguments."""
    rest = list(words)
    while rest:
        head = rest[0]
        if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=.*", head) or head in ("env", "exec"):
            rest.pop(0)
        elif head == "sudo":
            rest.pop(0)
            while rest and rest[0].startswith("-"):
                rest = rest[2:] if rest[0] in ("-u", "-g") else rest[1:]
        else:
            break
    if not rest:
        return "", []
    program = rest[0].rsplit("/", 1)[-1] if "/" in rest[0] and rest[0] != "#!/bin/sh" else rest[0]
    if program in ("python", "python3") and rest[1:2] == ["-m"]:
        return ("python3 -m venv" if rest[2:3] == ["venv"] else "python -m"), rest[2:]
    return program, rest[1:]
