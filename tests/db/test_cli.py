"""The ``callback-desk`` command as a user runs it: exit codes, messages, no tracebacks."""

from __future__ import annotations

import pytest

from callback_desk.cli import main


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


def test_unreachable_database_is_exit_1_with_one_line(monkeypatch, capsys) -> None:
    monkeypatch.setenv("CALLBACK_DESK_CONFIG", "/dev/null")
    monkeypatch.setenv("CALLBACK_DESK_DATABASE_DSN", "postgresql://u:topsecret@127.0.0.1:9/x")
    assert main(["migrate"]) == 1
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
