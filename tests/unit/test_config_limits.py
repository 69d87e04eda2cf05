"""Hostile or broken configuration files end in one line and exit 2, never a traceback; the
report's mail settings cannot send callers' numbers across a network in clear text."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from callback_desk.core.config import MAX_DEPTH, Settings
from callback_desk.core.exceptions import ConfigError
from callback_desk.report.settings import smtp_settings
from fakes.agi_runner import REPO
from fakes.settings import make_settings

GOOD = '[database]\ndsn = "postgresql://nobody@127.0.0.1:1/none"\n'


def cli_check(config: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "callback_desk.cli", "--config", str(config), "purge"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (GOOD.encode() + b'[pbx]\nname = "Praxis M\xfcller"\n', "is not UTF-8 text"),
        (GOOD.encode() + b"[report]\nx = " + b"[" * 5000 + b"]" * 5000, "too deep"),
        (GOOD.encode() + b"[report]\nx = " + b"{a = " * 5000 + b"1" + b"}" * 5000, "too deep"),
        (GOOD.encode() + b"[report." + b".".join([b"a"] * 2000) + b"]\nx = 1\n", "deeper"),
    ],
    ids=["latin1", "arrays", "inline_tables", "dotted_tables"],
)
def test_hostile_toml_is_one_line_and_exit_2(tmp_path: Path, body: bytes, message: str) -> None:
    config = tmp_path / "c.toml"
    config.write_bytes(body)
    with pytest.raises(ConfigError, match=message):
        Settings.load(config, environ={})
    proc = cli_check(config)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("\n") == 1 and message in proc.stderr
    assert "Traceback" not in proc.stderr


def test_nesting_within_the_limit_is_read(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    nested = "[" * (MAX_DEPTH - 2) + "1" + "]" * (MAX_DEPTH - 2)
    config.write_text(GOOD + f"[report.recipients]\nx = {nested}\n")
    assert Settings.load(config, environ={}).section("report").table("recipients")["x"]


@pytest.mark.parametrize("host", ["mail.example.org", "192.0.2.25", "127.0.0.1.example.org"])
def test_clear_text_smtp_to_another_host_is_refused(host: str) -> None:
    settings = make_settings(smtp={"host": host, "security": "none"})
    with pytest.raises(ConfigError, match="security = 'none' is allowed only to this machine"):
        smtp_settings(settings)


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1", "127.0.0.53", "::1", "[::1]"])
def test_clear_text_smtp_to_this_machine_is_allowed(host: str) -> None:
    assert smtp_settings(make_settings(smtp={"host": host, "security": "none"})).host == host
