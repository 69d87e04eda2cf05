"""The classic AGI entry (``python -m agi``): a bad argument is one line and exit 2."""

from __future__ import annotations

import subprocess
import sys

from fakes.agi_runner import REPO


def test_unknown_option_is_one_line_and_exit_2() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "agi", "--bogus"],
        cwd=REPO,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stdout == ""  # stdout is the AGI protocol: nothing may reach it
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and "--bogus" in lines[0], done.stderr
    assert "Traceback" not in done.stderr
