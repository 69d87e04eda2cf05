"""The subcommands that serve (FastAGI, the inbox) say what and where when they cannot listen,
and exit 1. Their settings come from a real database; the one-line input errors of every
subcommand are in tests/unit/test_cli_input.py."""

from __future__ import annotations

import socket

from fakes.agi_peer import SECRET
from tests.unit.test_cli_input import no_config, run

__all__ = ["no_config"]  # autouse: no config file, no stray CALLBACK_DESK_* variables


def agi_secret(tmp_path, monkeypatch) -> None:
    """`agi serve` refuses to start without its FastAGI secret (agi/server.py)."""
    secret = tmp_path / "agi-secret"
    secret.write_text(SECRET + "\n")
    secret.chmod(0o600)
    monkeypatch.setenv("CALLBACK_DESK_AGI_SECRET_FILE", str(secret))


def test_fastagi_port_taken_says_where_exit_1(db_dsn: str, monkeypatch, capsys, tmp_path) -> None:
    monkeypatch.setenv("CALLBACK_DESK_DATABASE_DSN", db_dsn)
    agi_secret(tmp_path, monkeypatch)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, _out, err = run(["agi", "serve", "--port", str(port)], capsys)
    assert code == 1
    last = err.splitlines()[-1]
    assert f"127.0.0.1:{port}" in last and "Address already in use" in last
    assert "Traceback" not in err


def test_fastagi_host_not_on_this_machine_says_where_exit_1(
    db_dsn, monkeypatch, capsys, tmp_path
) -> None:
    monkeypatch.setenv("CALLBACK_DESK_DATABASE_DSN", db_dsn)
    agi_secret(tmp_path, monkeypatch)
    code, _out, err = run(["agi", "serve", "--host", "192.0.2.1", "--port", "0"], capsys)
    assert code == 1
    assert "192.0.2.1:0" in err.splitlines()[-1] and "Traceback" not in err


def test_inbox_port_taken_says_where_exit_1(db_dsn: str, monkeypatch, capsys) -> None:
    monkeypatch.setenv("CALLBACK_DESK_DATABASE_DSN", db_dsn)
    monkeypatch.setenv("CALLBACK_DESK_WEB_SECRET", "s" * 40)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, _out, err = run(["web", "--port", str(port)], capsys)
    assert code == 1
    assert err.splitlines()[-1] == (
        f"callback-desk web: the inbox cannot listen on 127.0.0.1:{port}: Address already in use"
    )
