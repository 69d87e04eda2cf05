"""Every subcommand, given a user's mistake, says so in one line and exits 2; runtime failures
say what and where and exit 1. Subcommands and options are discovered from the parser, so a
subcommand added later is covered without touching this file."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from callback_desk import __version__
from callback_desk.cli import build_parser, main

BAD = "x!y"
KEEP_ENV = {"CALLBACK_DESK_CONFIG", "CALLBACK_DESK_TEST_DSN", "CALLBACK_DESK_REQUIRE_LAB"}
# Types that accept any string: a bad value for them is caught later, by the command itself.
_ANY_TEXT = (None, str, Path)


def subcommands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    [sub] = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(sub.choices)


def bad_values() -> list[tuple[str, list[str]]]:
    """(subcommand, argv) giving one checked option or positional a value it must refuse."""
    cases = []
    for name, sub in subcommands().items():
        for action in sub._actions:
            if action.type in _ANY_TEXT and not action.choices:
                continue
            if action.option_strings:
                cases.append((name, [name, action.option_strings[-1], BAD]))
            else:
                cases.append((name, [name, BAD]))
    return cases


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse exits on its own
        code = exc.code if isinstance(exc.code, int) else 1
    out, err = capsys.readouterr()
    return code, out, err


def one_line(err: str) -> bool:
    return err.count("\n") == 1 and err.endswith("\n") and "Traceback" not in err


@pytest.fixture(autouse=True)
def no_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CALLBACK_DESK_CONFIG", "/dev/null")
    for name in list(os.environ):
        if name.startswith("CALLBACK_DESK_") and name not in KEEP_ENV:
            monkeypatch.delenv(name)


def test_the_parser_knows_the_subcommands_this_file_must_cover() -> None:
    assert {"migrate", "listen", "report", "purge", "agi", "call", "demo"} <= set(subcommands())


@pytest.mark.parametrize("command", sorted(subcommands()))
def test_unknown_option_is_one_line_exit_2(command: str, capsys) -> None:
    code, out, err = run([command, "--no-such-option"], capsys)
    assert (code, out) == (2, "")
    # A command with required arguments names those first; either way nothing ran.
    assert one_line(err) and ("--no-such-option" in err or "required" in err)


@pytest.mark.parametrize(("command", "argv"), bad_values(), ids=lambda v: " ".join(v))
def test_bad_value_is_one_line_exit_2(command: str, argv: list[str], capsys) -> None:
    code, out, err = run(argv, capsys)
    assert (code, out) == (2, "")
    assert one_line(err) and BAD in err and command in err


# The arguments a subcommand cannot run without.
REQUIRED = {"call": ["1", "--from", "100"], "user": ["list"]}


@pytest.mark.parametrize(
    "command", sorted(n for n, p in subcommands().items() if not p.get_default("standalone"))
)
def test_bad_setting_is_one_line_exit_2_for_every_command(
    command: str, monkeypatch, capsys
) -> None:
    monkeypatch.setenv("CALLBACK_DESK_DATABASE_DSN", "postgresql://unused/")
    monkeypatch.setenv("CALLBACK_DESK_AMI_PORT", "x")
    argv = [command, *REQUIRED.get(command, [])]
    code, out, err = run(argv, capsys)
    assert (code, out) == (2, "")
    assert one_line(err) and "CALLBACK_DESK_AMI_PORT" in err


@pytest.mark.parametrize(
    "command", sorted(n for n, p in subcommands().items() if not p.get_default("standalone"))
)
def test_missing_config_file_is_one_line_exit_2(command: str, tmp_path, capsys) -> None:
    argv = [command, "--config", str(tmp_path / "nope.toml")]
    code, _out, err = run([*argv, *REQUIRED.get(command, [])], capsys)
    assert code == 2 and one_line(err) and "does not exist" in err


@pytest.mark.parametrize("argv", [["frobnicate"], ["agi", "frobnicate"], []])
def test_unknown_subcommands_are_refused(argv: list[str], capsys) -> None:
    code, out, err = run(argv, capsys)
    assert (code, out) == (2, "")
    assert one_line(err)


def test_agi_frobnicate_does_not_read_a_session_from_stdin(capsys) -> None:
    # Before: anything after 'agi' ran a classic AGI session, which waits on stdin for Asterisk.
    proc = subprocess.run(
        [sys.executable, "-m", "callback_desk.cli", "agi", "frobnicate"],
        input="agi_request: x\n\n",
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, "CALLBACK_DESK_DATABASE_DSN": "postgresql://unused/"},
    )
    assert proc.returncode == 2 and one_line(proc.stderr) and proc.stdout == ""


def test_version_is_the_package_version(capsys) -> None:
    code, out, _err = run(["--version"], capsys)
    assert (code, out) == (0, f"callback-desk {__version__}\n")


def test_unknown_environment_variable_is_a_warning_naming_it(monkeypatch, capsys) -> None:
    monkeypatch.setenv("CALLBACK_DESK_AMI_PROT", "5039")  # the typo of the issue
    monkeypatch.setenv("CALLBACK_DESK_SMTP_PASSWORD", "x")  # read by the report only: known
    monkeypatch.setenv("CALLBACK_DESK_AGI_LISTEN_PORT", "4573")
    monkeypatch.setenv("CALLBACK_DESK_REPROT_EMAIL_TO", "a@example.org")
    code, _out, err = run(["migrate"], capsys)  # then fails: no [database] dsn
    assert code == 2
    warned = [line for line in err.splitlines() if "Ignoring environment variable" in line]
    assert len(warned) == 2
    assert "CALLBACK_DESK_AMI_PROT" in warned[0] and "CALLBACK_DESK_REPROT_EMAIL_TO" in warned[1]


def test_a_typo_in_the_one_feature_section_named_is_still_warned(monkeypatch, capsys) -> None:
    # Only the sections the environment names are read to check their keys: [web]'s are.
    monkeypatch.setenv("CALLBACK_DESK_WEB_LISTEN_PROT", "8080")
    code, _out, err = run(["migrate"], capsys)
    assert code == 2
    warned = [line for line in err.splitlines() if "Ignoring environment variable" in line]
    assert len(warned) == 1 and "CALLBACK_DESK_WEB_LISTEN_PROT" in warned[0]


async def test_listener_logs_why_and_where_it_cannot_reach_ami(tmp_path) -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]  # bound, never listening: connections are refused
        env = {
            **os.environ,
            "CALLBACK_DESK_CONFIG": "/dev/null",
            "CALLBACK_DESK_DATABASE_DSN": "postgresql://u@127.0.0.1:1/x",
            "CALLBACK_DESK_DATABASE_CONNECT_TIMEOUT": "1",
            "CALLBACK_DESK_AMI_PORT": str(port),
            "CALLBACK_DESK_AMI_SECRET": "s",
        }
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "callback_desk.cli",
            "listen",
            env=env,
            stderr=asyncio.subprocess.PIPE,
        )
        assert proc.stderr is not None
        lines: list[str] = []
        try:
            async with asyncio.timeout(30):
                while not any("action=ami_unreachable" in line for line in lines):
                    lines.append((await proc.stderr.readline()).decode())
        finally:
            proc.send_signal(signal.SIGTERM)
            await proc.wait()
    [line] = [line for line in lines if "action=ami_unreachable" in line]
    assert f"127.0.0.1:{port}" in line and "Connection refused" in line
