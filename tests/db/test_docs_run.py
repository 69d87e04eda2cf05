"""The demo and the morning report, run for real exactly as the documentation shows them.

The other commands the pages show are checked in ``test_docs_commands.py`` (which finds them);
these two need a database (the demo its embedded one, the report the test's).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

from tests.docs_support import ROOT, Shown, program_of, shown_commands, simple_commands

# -- run for real, as shown --------------------------------------------------------------------


def _shown_exactly(program_and_args: str) -> Shown:
    for shown in shown_commands():
        for words in simple_commands(shown.line):
            program, args = program_of(words)
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
