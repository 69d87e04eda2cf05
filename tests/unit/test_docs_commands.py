"""Every command the documentation shows runs.

The commands are read from the pages themselves (``tests/docs_support.py``). Each simple
command of a line (split at ``&&``, ``;``, ``|``) is then:

- ``callback-desk ...``: run in-process with ``--help`` appended, which parses the subcommand
  path as shown (an unknown subcommand fails), and each ``--option`` shown must be in that help;
- ``python -m MODULE``: ``MODULE --help`` must succeed;
- anything else: its program must be in ``NOT_RUN``, which says why a test cannot run it.

The demo and the morning report are also run for real, exactly as shown
(``test_docs_run.py``: they need a database).
"""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from callback_desk import cli
from tests.docs_support import ROOT, program_of, shown_commands, simple_commands

_ROOT_ON_A_PBX = (
    "changes a PBX server as root (users, files, services, PostgreSQL roles, Asterisk): the "
    "manual steps of docs/install.md, followed as far as a machine without a PBX allows by "
    "tests/db/test_install.py and tests/unit/test_deploy.py"
)
_INSTALLS = (
    "creates a virtualenv or installs packages: the README's install command is the first step "
    "of CI (.ci/run); installing the wheel in a fresh venv is tests/db/test_install.py"
)
_CI = "a step of CI itself (.ci/run): the lint step and the test command"
_BY_HAND = (
    "the manual steps of docs/install.md's appendix: tests/db/test_install_manual.py runs them "
    "in order on a fresh server layout and compares the result with `callback-desk install`'s"
)
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
    **dict.fromkeys(("groupadd", "umask", "printf", "export", "awk", "grep"), _BY_HAND),
    **dict.fromkeys(("pip", "python3 -m venv"), _INSTALLS),
    **dict.fromkeys(("pytest", "ruff", "mypy", "lint-imports", "mkdocs"), _CI),
    "labctl": "starts the Asterisk lab as root; only the lab's owner runs it, and CI (.ci/run)",
}
# Placeholders: ID, EXT, EXT|DID, N, URL.
_PLACEHOLDER = re.compile(r"^[A-Z][A-Z_|]*$")


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
    programs = {program_of(c)[0] for s in shown_commands() for c in simple_commands(s.line)}
    assert {"callback-desk", "python -m", "systemctl"} <= programs


def test_every_callback_desk_command_shown_parses(capsys: pytest.CaptureFixture[str]) -> None:
    checked = 0
    for shown in shown_commands():
        for words in simple_commands(shown.line):
            program, args = program_of(words)
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
    words = simple_commands("callback-desk setup --dry-run")[0]
    with pytest.raises(SystemExit) as exited:
        cli.main([*_cli_argv(program_of(words)[1])[0], "--help"])
    assert exited.value.code == 2


def test_every_python_module_shown_has_its_help() -> None:
    modules = sorted(
        {
            args[0]
            for shown in shown_commands()
            for words in simple_commands(shown.line)
            for program, args in [program_of(words)]
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
        for words in simple_commands(shown.line):
            program, _args = program_of(words)
            if program and program not in ("callback-desk", "python -m") and program not in NOT_RUN:
                unexplained.append(f"{shown} ({program})")
    assert not unexplained, (
        "commands no test runs; run them in a test, or add the program to NOT_RUN with the "
        f"reason: {unexplained}"
    )
