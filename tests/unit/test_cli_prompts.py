"""No traceback anywhere on the command line: no terminal, end of input, Ctrl-C at a prompt, and
every subcommand run the way a script or a newcomer would run it, with nothing set up.

Each runs ``callback-desk`` as a process: in a session of its own (no controlling terminal, as
under cron or a service), or on a pseudo-terminal where a person types.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from fakes.terminal import Terminal

CLI = str(Path(sys.executable).parent / "callback-desk")
# Nothing answers on port 9: every database command fails, in words.
UNREACHABLE = "postgresql://u:topsecret@127.0.0.1:9/x"


def _env() -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CALLBACK_DESK_")}
    return {**clean, "CALLBACK_DESK_CONFIG": os.devnull, "CALLBACK_DESK_DATABASE_DSN": UNREACHABLE}


def run(*argv: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CLI, *argv],
        input=stdin,
        stdin=subprocess.DEVNULL if stdin is None else None,
        capture_output=True,
        text=True,
        env=_env(),
        timeout=120,
        start_new_session=True,  # no controlling terminal
    )


def test_user_add_without_a_terminal_says_how_to_give_the_password() -> None:
    done = run("user", "add", "me", "--extension", "100")
    assert done.returncode == 2
    assert done.stderr == (
        "callback-desk: no terminal to ask for the password: pipe one line in with "
        "--password-stdin\n"
    )


def test_password_stdin_at_end_of_input_says_so() -> None:
    done = run("user", "add", "me", "--extension", "100", "--password-stdin", stdin="")
    assert done.returncode == 2
    assert done.stderr == (
        "callback-desk: no password on stdin (--password-stdin reads one line)\n"
    )


def _shell(command: str) -> Terminal:
    env = {**_env(), "PATH": f"{Path(CLI).parent}:{os.environ.get('PATH', '/usr/bin:/bin')}"}
    # After the command: its exit code, and whether the terminal echoes again.
    return Terminal(
        f"{command}; echo rc=$?; stty -a | tr ' ;' '\\n\\n' | grep -qx echo && echo echo-on", env
    )


def test_ctrl_d_at_the_password_prompt_is_one_line() -> None:
    shell = _shell("callback-desk user add me --extension 100")
    shell.expect("New password:")
    shell.type("\x04")  # Ctrl-D: end of input
    shell.wait()
    text = shell.text()
    assert "callback-desk: no password given (end of input)" in text
    assert "rc=2" in text and "echo-on" in text and "Traceback" not in text


def test_ctrl_c_at_the_password_prompt_stops_at_once() -> None:
    shell = _shell("callback-desk user add me --extension 100")
    shell.expect("New password:")
    shell.type("\x03")  # Ctrl-C, before Enter: it must not wait for a line
    shell.expect("rc=130", timeout=10)
    shell.wait()
    assert "echo-on" in shell.text() and "Traceback" not in shell.text()


@pytest.mark.parametrize(
    "argv",
    [
        ["migrate"],
        ["grant"],
        ["listen"],
        ["report"],
        ["report", "--since", "yesterday"],
        ["purge"],
        ["agi"],
        ["agi", "serve"],
        ["call", "1", "--from", "100"],
        ["web"],
        ["user", "list"],
        ["user", "passwd", "me"],
        ["demo", "--dsn", UNREACHABLE],
        ["doctor", "--env-file", os.devnull, "--timeout", "1"],
        ["sample", "no-such-sample"],
        ["no-such-command"],
    ],
    ids=" ".join,
)
def test_every_subcommand_with_nothing_set_up_fails_in_one_line(argv: list[str]) -> None:
    done = run(*argv)
    assert "Traceback" not in done.stderr + done.stdout
    assert done.returncode in (0, 1, 2), done.stderr
    errors = [line for line in done.stderr.splitlines() if not line.startswith("20")]
    assert len(errors) <= 1, done.stderr  # a log line (timestamped) aside
    assert "topsecret" not in done.stderr + done.stdout
