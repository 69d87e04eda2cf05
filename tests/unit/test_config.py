from __future__ import annotations

from pathlib import Path

import pytest

from callback_desk.cli import main
from callback_desk.core.config import Secret, Settings
from callback_desk.core.exceptions import ConfigError

GOOD = """
[database]
dsn = "postgresql://cbd:hunter2@db/cbd"

[ami]
host = "pbx.example"
port = 5039
username = "listener"
secret = "ami-pass-123"

[pbx]
name = "main-office"
inbound_contexts = ["from-pstn"]
timezone = "Europe/Berlin"
country = "de"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "callback-desk.toml"
    path.write_text(text, "utf-8")
    return path


def test_file_values_are_typed(tmp_path: Path) -> None:
    s = Settings.load(write(tmp_path, GOOD), environ={})
    assert s.ami.port == 5039
    assert s.ami.secret == Secret("ami-pass-123")
    assert s.pbx.inbound_contexts == ("from-pstn",)
    assert s.pbx.timezone.key == "Europe/Berlin"
    assert s.pbx.country == "DE"
    assert s.listener.settle_seconds == 2.0


def test_environment_overrides_file(tmp_path: Path) -> None:
    env = {
        "CALLBACK_DESK_AMI_PORT": "6000",
        "CALLBACK_DESK_PBX_INBOUND_CONTEXTS": "from-trunk, ext-did",
        "CALLBACK_DESK_LISTENER_TRACE": "yes",
    }
    s = Settings.load(write(tmp_path, GOOD), environ=env)
    assert s.ami.port == 6000
    assert s.pbx.inbound_contexts == ("from-trunk", "ext-did")
    assert s.listener.trace is True


def test_defaults_when_only_dsn_is_given() -> None:
    s = Settings.from_mapping({}, {"CALLBACK_DESK_DATABASE_DSN": "postgresql:///x"})
    assert s.pbx.inbound_contexts == ("from-pstn", "from-trunk")
    assert s.ami.secret is None
    with pytest.raises(ConfigError, match=r"\[ami\] secret is required"):
        s.ami.require_secret()


@pytest.mark.parametrize(
    ("text", "env", "message"),
    [
        ("", {}, r"\[database\] dsn is required .*CALLBACK_DESK_DATABASE_DSN"),
        (
            GOOD,
            {"CALLBACK_DESK_AMI_PORT": "x"},
            r"\[ami\] port = 'x' is not a valid int >= 1 \(from CALLBACK_DESK_AMI_PORT\)",
        ),
        (GOOD.replace("port = 5039", "port = 70000"), {}, r"\[ami\] port = 70000"),
        (
            GOOD.replace('timezone = "Europe/Berlin"', 'timezone = "Mars/Base"'),
            {},
            r"\[pbx\] timezone = 'Mars/Base' is not a known time zone",
        ),
        (GOOD.replace("[pbx]", "[pbx]\nhots = 1"), {}, r"\[pbx\] unknown key 'hots'"),
        (GOOD + "\n[amii]\nx = 1\n", {}, r"unknown section \[amii\]"),
        (GOOD.replace('country = "de"', 'country = "XX"'), {}, r"\[pbx\] country = 'XX'"),
        (
            GOOD.replace('inbound_contexts = ["from-pstn"]', 'inbound_contexts = "from-pstn"'),
            {},
            r"\[pbx\] inbound_contexts = 'from-pstn' is not a valid list of strings",
        ),
        ("[database\n", {}, r"not valid TOML"),
    ],
)
def test_mistakes_name_the_key(tmp_path: Path, text: str, env: dict[str, str], message: str):
    with pytest.raises(ConfigError, match=message):
        Settings.load(write(tmp_path, text), environ=env)


def test_secret_never_shows(tmp_path: Path) -> None:
    s = Settings.load(write(tmp_path, GOOD), environ={})
    for text in (repr(s), str(s), repr(s.ami), repr(s.database), f"{s.ami.secret}"):
        assert "ami-pass-123" not in text
        assert "hunter2" not in text


def test_bad_secret_type_does_not_echo_value(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"\[ami\] secret must be a string") as info:
        Settings.load(write(tmp_path, GOOD.replace('"ami-pass-123"', "123456789")), environ={})
    assert "123456789" not in str(info.value)


def test_explicit_missing_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        Settings.load(tmp_path / "nope.toml", environ={})


def test_cli_config_mistake_is_one_line_exit_2(tmp_path: Path, capsys) -> None:
    path = write(tmp_path, GOOD.replace("port = 5039", 'port = "many"'))
    # --config accepted after the subcommand as well as before it.
    assert main(["report", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.strip().count("\n") == 0
    assert "[ami] port = 'many'" in err
    assert "Traceback" not in err
    assert main(["--config", str(path), "report"]) == 2


def test_cli_unknown_flag_exits_2(capsys) -> None:
    with pytest.raises(SystemExit) as info:
        main(["report", "--formt", "json"])
    assert info.value.code == 2


@pytest.mark.parametrize(
    ("mode", "refused"),
    [
        (0o600, None),
        (0o640, None),
        # Anyone in the group could put a key of their own in place and forge with it.
        (0o660, "is writable by group"),
        (0o620, "is writable by group"),
        (0o602, "is writable by every local user"),
        (0o644, "is readable by every local user"),
    ],
)
def test_a_secret_file_others_may_change_or_read_is_refused(
    tmp_path: Path, mode: int, refused: str | None
) -> None:
    from callback_desk.core.config import private_secret

    key = tmp_path / "key"
    key.write_text("k" * 40 + "\n")
    key.chmod(mode)
    if refused is None:
        assert private_secret("web", "secret_file", key, "chmod 0640").reveal() == "k" * 40
        return
    with pytest.raises(ConfigError) as caught:
        private_secret("web", "secret_file", key, "chmod 0640, group callback-desk")
    message = str(caught.value)
    assert message.startswith(f"[web] secret_file = {str(key)!r} {refused}")
    assert message.endswith("(chmod 0640, group callback-desk)") and "\n" not in message
    assert "k" * 10 not in message


def test_an_inline_secret_is_refused_in_a_config_file_others_can_read(tmp_path: Path) -> None:
    from callback_desk.web.settings import load

    config = write(tmp_path, GOOD + '\n[web]\nsecret = "' + "w" * 40 + '"\n')
    config.chmod(0o644)
    with pytest.raises(ConfigError) as caught:
        load(Settings.load(config, environ={}))
    message = str(caught.value)
    assert message.startswith(f"[web] secret is written in {config}, which is readable by every")
    assert "secret_file" in message and "CALLBACK_DESK_WEB_SECRET" in message
    assert "w" * 10 not in message
    # The same file kept private (0640, as the install guide writes it) may hold it...
    config.chmod(0o640)
    assert load(Settings.load(config, environ={})).require_secret().reveal() == "w" * 40
    # ...and the environment never counts as the file.
    config.write_text(GOOD, "utf-8")
    config.chmod(0o644)
    env = {"CALLBACK_DESK_WEB_SECRET": "e" * 40}
    assert load(Settings.load(config, environ=env)).require_secret().reveal() == "e" * 40
