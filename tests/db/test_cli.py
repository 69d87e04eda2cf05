"""The ``callback-desk`` command as a user runs it: exit codes, messages, no tracebacks."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from callback_desk.cli import main
from fakes.agi_runner import toml_text


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, empty_db_dsn: str) -> str:
    monkeypatch.setenv("CALLBACK_DESK_CONFIG", "/dev/null")
    monkeypatch.setenv("CALLBACK_DESK_DATABASE_DSN", empty_db_dsn)
    return empty_db_dsn


def test_migrate_applies_then_reports_up_to_date(env: str, capsys) -> None:
    assert main(["migrate"]) == 0
    assert "applied 0001_calls" in capsys.readouterr().out
    assert main(["migrate"]) == 0
    assert capsys.readouterr().out.strip() == "schema is up to date"


def test_report_on_unmigrated_database_says_what_to_do(env: str, capsys) -> None:
    assert main(["report", "--format", "json"]) == 1
    err = capsys.readouterr().err
    assert "callback-desk migrate" in err and "Traceback" not in err


# The report on screen first tries the small synchronous client (report.command.run_on_screen);
# its failure is said in the words the report always used (asyncpg's, through the Store).
@pytest.mark.parametrize("command", ["migrate", "report"])
def test_unreachable_database_is_exit_1_with_one_line(monkeypatch, capsys, command: str) -> None:
    monkeypatch.setenv("CALLBACK_DESK_CONFIG", "/dev/null")
    monkeypatch.setenv("CALLBACK_DESK_DATABASE_DSN", "postgresql://u:topsecret@127.0.0.1:9/x")
    assert main([command]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot connect to the database at 127.0.0.1:9" in err
    assert "topsecret" not in err


def test_listen_without_ami_secret_names_the_key(env: str, capsys) -> None:
    assert main(["listen"]) == 2
    assert "[ami] secret is required" in capsys.readouterr().err


def test_purge_uses_retention_days(env: str, capsys) -> None:
    assert main(["migrate"]) == 0
    assert main(["purge", "--days", "30"]) == 0
    assert "purged 0 calls older than 30 days" in capsys.readouterr().out


@pytest.mark.parametrize("via", ["config file", "environment"])
def test_the_report_on_screen_loads_neither_asyncio_asyncpg_nor_logging(
    env: str, tmp_path, via: str
) -> None:
    # One practice's morning report as a command: importing asyncio and asyncpg was a third
    # of it (bench/year.py). The whole command, imports included, as a timer runs it: with a
    # config file, or with the database's DSN in the environment as the installed unit has it
    # (report.env). A CALLBACK_DESK_* variable has its section's settings read to check its
    # name (cli.warn_unknown_environment): the database's are the core's, no feature's. Nothing
    # is logged, so logging is not loaded either (callback_desk/core/lazylog.py).
    assert main(["migrate"]) == 0
    config = tmp_path / "callback-desk.toml"
    config.write_text(toml_text({"database": {"dsn": env}} if via == "config file" else {}))
    environ = {k: v for k, v in os.environ.items() if not k.startswith("CALLBACK_DESK_")}
    if via == "environment":
        environ["CALLBACK_DESK_DATABASE_DSN"] = env
    for _run in ("first", "next"):
        proc = subprocess.run(
            [sys.executable, "-X", "importtime", "-m", "callback_desk.cli", "--config",
             str(config), "report", "--format", "json"],
            capture_output=True, text=True, timeout=60, env=environ,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        assert json.loads(proc.stdout)["missed"] == []
        imported = {line.rpartition("|")[2].strip() for line in proc.stderr.splitlines()}
        assert "callback_desk.report.command" in imported
        assert not {m for m in imported if m.split(".")[0] in ("asyncio", "asyncpg", "logging")}
    # The first run kept the file's parsed snapshot (callback_desk/core/snapshot.py): the next
    # one parses no TOML, and nothing on its path loads typing (callback_desk/core/typeshim.py).
    assert not imported & {"tomllib", "typing"}
