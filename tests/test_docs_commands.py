"""Every command the documentation shows runs.

The commands are read from the pages themselves: every line of a ```sh block (continuation
lines joined), every ``$ `` line of a plain block, and every inline `callback-desk ...` span.
Each simple command of a line (split at ``&&``, ``;``, ``|``) is then:

- ``callback-desk ...``: run in-process with ``--help`` appended, which parses the subcommand
  path as shown (an unknown subcommand fails), and each ``--option`` shown must be in that help;
- ``python -m MODULE``: ``MODULE --help`` must succeed;
- anything else: its program must be in ``NOT_RUN``, which says why a test cannot run it.

The demo and the morning report are also run for real, exactly as shown
(``test_the_demo_runs_as_shown``, ``test_the_report_runs_as_shown``).
"""

from __future__ import annotations

import asyncio
import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from callback_desk import cli

ROOT = Path(__file__).resolve().parent.parent
PAGES = [*sorted((ROOT / "docs").glob("*.md")), ROOT / "README.md"]

_ROOT_ON_A_PBX = (
    "changes a PBX server as root (users, files, services, PostgreSQL roles, Asterisk): the "
    "manual steps of docs/install.md, followed as far as a machine without a PBX allows by "
    "tests/test_install.py and tests/test_deploy.py"
)
_INSTALLS = (
    "creates a virtualenv or installs packages: the README's install command is the first step "
    "of CI (.ci/run); installing the wheel in a fresh venv is tests/test_install.py"
)
_CI = "a step of CI itself (.ci/run): the lint step and the test command"
# Programs a test does not run, and why. Keep it small: a command that can run, runs.
NOT_RUN: dict[str, str] = {
    **dict.fromkeys(
        (
            "apt",
            "useradd",
            "usermod",
            "userdel",
            "gpasswd",
            "install",
            "ln",
            "cp",
            "rm",
            "chgrp",
            "chmod",
            "chown",
            "systemctl",
            "journalctl",
            "fwconsole",
            "asterisk",
            "psql",
            "createdb",
            "dropdb",
            "openssl",
            "head",
            "echo",
            "set",
            ".",
            "for",
            "do",
            "done",
            "dsn()",
            "dsn",
            "{",
            "}",
            "#!/bin/sh",
        ),
        _ROOT_ON_A_PBX,
    ),
    **dict.fromkeys(("pip", "python3 -m venv"), _INSTALLS),
    **dict.fromkeys(("pytest", "ruff", "mypy", "lint-imports", "mkdocs"), _CI),
    "labctl": "starts the Asterisk lab as root; only the lab's owner runs it, and CI (.ci/run)",
}
# Placeholders: ID, EXT, EXT|DID, N, URL.
_PLACEHOLDER = re.compile(r"^[A-Z][A-Z_|]*$")


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


def _code_lines(text: str) -> list[str]:
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
        for line in _code_lines(page.read_text(encoding="utf-8"))
    ]


def _simple_commands(line: str) -> list[list[str]]:
    """The simple commands of a shell line, each as its words (comments and redirections out)."""
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
    return [c for c in commands if c]


def _program(words: list[str]) -> tuple[str, list[str]]:
    """The program a simple command runs (past VAR=x, sudo -u U, env, exec) and its arguments."""
    rest = list(words)
    while rest:
        head = rest[0]
        if re.fullmatch(r"[A-Z_][A-Z0-9_]*=.*", head) or head in ("env", "exec"):
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


def _cli_argv(args: list[str]) -> list[list[str]]:
    """The argv to check for ``callback-desk ARGS``: placeholders dropped, alternatives expanded."""
    args = [a.strip("[]") for a in args if a not in ("[...]", "[…]", "...", "…")]
    # ID, EXT, N, URL...: a value that parses wherever a placeholder stands.
    args = ["1" if _PLACEHOLDER.match(a) else a for a in args if a]
    for n, arg in enumerate(args):
        if "|" in arg and not arg.startswith("-"):
            return [[*args[:n], alt, *args[n + 1 :]] for alt in arg.split("|")]
    return [args]


def _help(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit) as exited:
        cli.main([*argv, "--help"])
    out = capsys.readouterr().out
    assert exited.value.code == 0, f"callback-desk {' '.join(argv)} --help exited {exited.value}"
    return out


def _run_version(capsys: pytest.CaptureFixture[str]) -> bool:
    with pytest.raises(SystemExit) as exited:
        cli.main(["--version"])
    return exited.value.code == 0 and bool(re.search(r"\d+\.\d+", capsys.readouterr().out))


def test_the_pages_show_commands_of_every_kind() -> None:
    programs = {_program(c)[0] for s in shown_commands() for c in _simple_commands(s.line)}
    assert {"callback-desk", "python -m", "systemctl"} <= programs


def test_every_callback_desk_command_shown_parses(capsys: pytest.CaptureFixture[str]) -> None:
    checked = 0
    for shown in shown_commands():
        for words in _simple_commands(shown.line):
            program, args = _program(words)
            if program != "callback-desk":
                continue
            for argv in _cli_argv(args):
                if argv[:1] == ["--version"]:
                    # Runs for real: it prints the version and exits 0 before any --help.
                    assert _help([], capsys) and _run_version(capsys)
                    continue
                text = _help(argv, capsys)
                options = {a.split("=")[0] for a in argv if a.startswith("--")}
                unknown = sorted(o for o in options if o not in text)
                assert not unknown, f"{shown}: {unknown} not in `callback-desk {argv} --help`"
                checked += 1
    assert checked >= 20


def test_a_subcommand_that_does_not_exist_is_found(capsys: pytest.CaptureFixture[str]) -> None:
    words = _simple_commands("callback-desk install --dry-run")[0]
    with pytest.raises(SystemExit) as exited:
        cli.main([*_cli_argv(_program(words)[1])[0], "--help"])
    assert exited.value.code == 2


def test_every_python_module_shown_has_its_help() -> None:
    modules = sorted(
        {
            args[0]
            for shown in shown_commands()
            for words in _simple_commands(shown.line)
            for program, args in [_program(words)]
            if program == "python -m"
        }
    )
    assert "bench" in modules
    for module in modules:
        proc = subprocess.run(
            [sys.executable, "-m", module, "--help"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert proc.returncode == 0, f"python -m {module} --help: {proc.stderr}"


def test_every_other_command_shown_is_one_a_test_cannot_run_and_says_why() -> None:
    unexplained = []
    for shown in shown_commands():
        for words in _simple_commands(shown.line):
            program, _args = _program(words)
            if program and program not in ("callback-desk", "python -m") and program not in NOT_RUN:
                unexplained.append(f"{shown} ({program})")
    assert not unexplained, (
        "commands no test runs; run them in a test, or add the program to NOT_RUN with the "
        f"reason: {unexplained}"
    )


# -- run for real, as shown --------------------------------------------------------------------


def _shown_exactly(program_and_args: str) -> Shown:
    for shown in shown_commands():
        for words in _simple_commands(shown.line):
            program, args = _program(words)
            if " ".join([program, *args]) == program_and_args:
                return shown
    raise AssertionError(f"no page shows `{program_and_args}` any more: update this test")


def test_the_demo_runs_as_shown() -> None:
    _shown_exactly("callback-desk demo")
    proc = subprocess.run(
        [sys.executable, "-m", "callback_desk.cli", "demo"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env={k: v for k, v in os.environ.items() if not k.startswith("CALLBACK_DESK_")},
    )
    assert proc.returncode == 0, proc.stderr
    assert "callers to call back" in proc.stdout
    assert "nothing left running or on disk" in proc.stdout


async def test_the_report_runs_as_shown(owner_dsn: str) -> None:
    _shown_exactly("callback-desk report")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLBACK_DESK_")}
    env |= {"CALLBACK_DESK_CONFIG": os.devnull, "CALLBACK_DESK_DATABASE_DSN": owner_dsn}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "callback_desk.cli",
        "report",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
        cwd=ROOT,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 300)
    assert proc.returncode == 0, err.decode()
    assert "Nobody to call back" in out.decode()
