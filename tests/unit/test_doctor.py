"""``callback-desk doctor`` without the lab: files, manager.conf parsing and filter rules, and the
exit code. The live checks run against the lab in tests/lab/test_doctor_lab.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from callback_desk.cli import main
from callback_desk.doctor import manager_conf
from callback_desk.doctor.checks import SAMPLE_EVENTS, read_env_file

ROOT = Path(__file__).resolve().parents[2]


def test_the_sample_account_passes_every_event_the_listener_reads() -> None:
    conf = manager_conf.load(ROOT / "manager.conf.sample")
    account = conf.accounts["callbackdesk"]
    assert account.read == {"system", "call", "dialplan", "agent"}
    assert account.write == {"reporting"}
    assert [e for e in SAMPLE_EVENTS if not account.passes(e)] == []
    # ... and the filters do cut the noise they are there for.
    assert not account.passes({"event": "VarSet", "variable": "BRIDGEPEER", "value": "x"})
    assert not account.passes({"event": "RTCPSent"})


def test_legacy_filters_and_includes_are_followed(tmp_path: Path) -> None:
    (tmp_path / "manager.conf").write_text(
        "[general]\ntimestampevents = yes ; comment\n#include manager_custom.conf\n"
    )
    (tmp_path / "manager_custom.conf").write_text(
        "[callbackdesk]\nread = system,call,dialplan,agent\nwrite = reporting\n"
        "eventfilter = Event: (Newchannel|Hangup|FullyBooted)\n"
        "eventfilter = !Event: Hangup\n"
    )
    conf = manager_conf.load(tmp_path / "manager.conf")
    assert conf.general["timestampevents"] == "yes"
    account = conf.accounts["callbackdesk"]
    assert account.passes({"event": "Newchannel"})
    assert not account.passes({"event": "Hangup"})  # excluded
    assert not account.passes({"event": "DialEnd"})  # not included
    dropped = {e["event"] for e in SAMPLE_EVENTS if not account.passes(e)}
    assert "DialEnd" in dropped and "Newchannel" not in dropped


def test_env_file_reads_like_systemd(tmp_path: Path) -> None:
    env = tmp_path / "x.env"
    env.write_text("# secrets\nCALLBACK_DESK_AMI_SECRET='s3 cret'\n\nexport CALLBACK_DESK_X=1\n")
    assert read_env_file(env) == {"CALLBACK_DESK_AMI_SECRET": "s3 cret", "CALLBACK_DESK_X": "1"}


@pytest.fixture
def setup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    for name in ("CALLBACK_DESK_CONFIG", "CALLBACK_DESK_DATABASE_DSN", "CALLBACK_DESK_AMI_SECRET"):
        monkeypatch.delenv(name, raising=False)
    config, env = tmp_path / "callback-desk.toml", tmp_path / "callback-desk.env"
    config.write_text('[database]\ndsn = "postgresql://u@127.0.0.1:9/x"\nconnect_timeout = 1\n')
    env.write_text("CALLBACK_DESK_AMI_SECRET=x\n")
    config.chmod(0o640)
    env.chmod(0o600)
    return config, env


def doctor(config: Path, env: Path, capsys, *more: str) -> tuple[int, list[str]]:
    code = main(
        ["doctor", "--config", str(config), "--env-file", str(env), "--timeout", "2", *more]
    )
    return code, capsys.readouterr().out.splitlines()


def test_world_readable_secrets_are_a_cross_with_the_chmod(setup, capsys) -> None:
    config, env = setup
    env.chmod(0o644)
    code, lines = doctor(config, env, capsys)
    [perm] = [line for line in lines if line.startswith("✗ secrets file permissions")]
    assert code == 1 and f"chmod 640 {env}" in perm


def test_a_broken_config_is_one_cross_and_nothing_else_runs(setup, capsys) -> None:
    config, env = setup
    config.write_text('[database]\ndsn = "x"\n[ami]\nprot = 1\n')
    code, lines = doctor(config, env, capsys)
    assert code == 1
    assert "✗ config syntax: [ami] unknown key 'prot'" in lines[-3]
    assert lines[-2].startswith("- everything else")


def test_unreachable_database_and_pbx_each_say_where(setup, capsys, tmp_path) -> None:
    config, env = setup
    config.write_text(
        '[database]\ndsn = "postgresql://u@127.0.0.1:9/x"\nconnect_timeout = 1\n'
        "[ami]\nport = 9\n[agi]\nlisten_port = 9\n"
    )
    code, lines = doctor(config, env, capsys, "--asterisk-etc", str(tmp_path / "none"))
    text = "\n".join(lines)
    assert code == 1
    assert "✗ database: cannot connect to the database at 127.0.0.1:9: Connection refused" in text
    assert "✗ AMI login: cannot reach AMI at 127.0.0.1:9: Connection refused" in text
    assert "✗ FastAGI: nothing answers on 127.0.0.1:9 (Connection refused)" in text
    assert "Traceback" not in text and lines[-1].endswith("checks failed")
