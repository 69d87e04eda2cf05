"""``callback-desk demo --keep`` walked as a newcomer walks it: run it, paste every command it
prints into a shell (a real terminal for the password prompt), open the inbox it points to in
Chromium and press "Call from my desk phone", then the printed ``kill``: the demo's data in the
practice's time, the success path of click-to-call, and nothing left behind.

The embedded PostgreSQL (no ``--dsn``): as root, the account it runs as and /etc/passwd are
checked too.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from fakes.terminal import Terminal
from tests.browser.test_web_browser import CHROMIUM, LAUNCH

BIN = Path(sys.executable).parent
PASSWORD = "demo password 1"


def _env(**extra: str) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("CALLBACK_DESK_", "PYTHON"))}
    return {**clean, "PATH": f"{BIN}:{clean.get('PATH', '/usr/bin:/bin')}", **extra}


def _accounts() -> set[str]:
    return {line.split(":")[0] for line in Path("/etc/passwd").read_text().splitlines()}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _gone(pid: int, timeout: float = 30) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


@pytest.fixture
def scratch() -> Iterator[Path]:
    # A short TMPDIR of its own: PostgreSQL's socket path must stay under 108 bytes.
    made = Path(tempfile.mkdtemp(prefix="cbd-", dir="/tmp"))
    made.chmod(0o711)  # as /tmp is: the account PostgreSQL runs as (as root) may pass
    yield made
    shutil.rmtree(made, ignore_errors=True)


@pytest.mark.skipif(not CHROMIUM.exists(), reason="Chromium is not installed")
async def test_the_kept_demos_printed_commands_give_the_demos_data(scratch: Path) -> None:
    from playwright.async_api import async_playwright, expect

    accounts = _accounts()
    demo = subprocess.run(
        [str(BIN / "callback-desk"), "demo", "--keep"],
        env=_env(TMPDIR=str(scratch)),
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert demo.returncode == 0, demo.stderr
    printed = [line.strip() for line in demo.stdout.splitlines() if line.startswith("    ")]
    [export] = [c for c in printed if c.startswith("export CALLBACK_DESK_CONFIG=")]
    [report] = [c for c in printed if c.startswith("callback-desk report")]
    [inbox] = [c for c in printed if c.startswith("callback-desk user add")]
    [kill] = [c for c in printed if c.startswith("kill ")]
    kept_pid = int(kill.split()[1])
    [directory] = list(scratch.iterdir())
    postgres_pid = int((directory / "pgdata" / "postmaster.pid").read_text().split()[0])
    try:
        if os.geteuid() == 0:
            # Not root (PostgreSQL refuses it) and not an account made for the purpose.
            owner = subprocess.run(
                ["ps", "-o", "user=", "-p", str(postgres_pid)], capture_output=True, text=True
            ).stdout.strip()
            assert owner == "nobody"
            assert "as user nobody" in demo.stdout and "no account was added" in demo.stdout

        # The report, pasted: the calls at their New York times (08:26 and 09:52, not 13:26).
        pasted = subprocess.run(
            ["bash", "-c", f"{export}\n{report}"],
            env=_env(),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert pasted.returncode == 0, pasted.stderr
        day = r"\w{3} \d{2} \w{3}"
        assert re.search(
            rf"^\(212\) 555-0106 +Nora Nobody +2 +new +{day} 08:26 +{day} 09:52 ",
            pasted.stdout,
            re.M,
        ), pasted.stdout
        assert "5 callers to call back" in pasted.stdout
        assert "Nobody to call back" not in pasted.stdout

        # The inbox, pasted into a terminal: the password twice, then the server runs. Its port
        # is the test's (a fixed 8047 may be taken on a shared machine); nothing else changes.
        port = _free_port()
        shell = Terminal(f"{export}\n{inbox}", _env(CALLBACK_DESK_WEB_PORT=str(port)))
        try:
            shell.expect("New password:")
            shell.type(PASSWORD + "\n")
            shell.expect("Again:")
            shell.type(PASSWORD + "\n")
            shell.expect(f"127.0.0.1:{port}")
            async with async_playwright() as playwright:
                chromium = await playwright.chromium.launch(**LAUNCH)
                try:
                    page = await chromium.new_page()
                    await page.goto(f"http://localhost:{port}/")
                    await page.get_by_label("User name").fill("me")
                    await page.get_by_label("Password").fill(PASSWORD)
                    await page.get_by_role("button", name="Sign in").click()
                    nora = page.locator("section.caller", has_text="(212) 555-0106")
                    await expect(nora).to_contain_text("08:26")
                    await expect(nora).to_contain_text("09:52")
                    await nora.get_by_role("button", name="Call from my desk phone").click()
                    await expect(page.get_by_role("status")).to_have_text(
                        "Your desk phone answered: the call to the caller is on its way."
                    )
                finally:
                    await chromium.close()
        finally:
            shell.type("\x03")  # Ctrl-C, as a person stops the server
            code = shell.wait()
        assert "Traceback" not in shell.text(), shell.text()
        assert code in (0, 130), shell.text()  # 130: the shell, too, saw Ctrl-C
        assert "Simulated PBX: PJSIP/100 answers" in (directory / "kept.log").read_text()
    finally:
        # The printed way to undo it all.
        subprocess.run(["bash", "-c", kill], env=_env(), check=True, timeout=10)
        assert _gone(kept_pid) and _gone(postgres_pid)
    assert list(scratch.iterdir()) == []
    # pgserver's own start-up would have added "pgserver" (other work on a shared machine may
    # add accounts meanwhile: only the demo's candidates are looked for).
    assert not (_accounts() - accounts) & {"pgserver", "postgres"}
