from __future__ import annotations

from collections.abc import Callable
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
    """The config file, private (0600) as a file with secrets in it must be."""
    path = tmp_path / "callback-desk.toml"
    path.write_text(text, "utf-8")
    path.chmod(0o600)
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


# No secret in it: the DSN names its login only (the password comes from elsewhere).
BARE = '[database]\ndsn = "postgresql://cbd@db/cbd"\n'
INLINE = "i" * 40


def _load_section(section: str, settings: Settings) -> object:
    from agi.config import load as agi
    from ami_listener.gaps import ReconcileSettings
    from callback_desk.report.settings import smtp_settings
    from callback_desk.web.settings import load as web

    def signing_key(s: Settings) -> object:
        return web(s).require_secret()

    readers: dict[str, Callable[[Settings], object]] = {
        "agi": agi,
        "smtp": smtp_settings,
        "reconcile": ReconcileSettings.from_settings,
        "web": signing_key,
    }
    return readers[section](settings) if section in readers else settings


@pytest.mark.parametrize(
    ("text", "key"),
    [
        (f'[database]\ndsn = "postgresql://cbd:{INLINE}@db/cbd"\n', "[database] dsn"),
        (f'[database]\ndsn = "postgresql://cbd@db/cbd?password={INLINE}"\n', "[database] dsn"),
        (BARE + f'[ami]\nsecret = "{INLINE}"\n', "[ami] secret"),
        (BARE + f'[agi]\nami_secret = "{INLINE}"\n', "[agi] ami_secret"),
        (
            BARE + f'[smtp]\nsender = "a@b.example"\nusername = "u"\npassword = "{INLINE}"\n',
            "[smtp] password",
        ),
        (BARE + f'[reconcile]\ndsn = "mysql://cdr:{INLINE}@db/asteriskcdrdb"\n', "[reconcile] dsn"),
        (BARE + f'[web]\nsecret = "{INLINE}"\n', "[web] secret"),
    ],
)
def test_an_inline_secret_is_refused_in_a_config_file_others_can_read(
    tmp_path: Path, text: str, key: str
) -> None:
    section = key[1 : key.index("]")]
    config = write(tmp_path, text)
    config.chmod(0o644)
    with pytest.raises(ConfigError) as caught:
        _load_section(section, Settings.load(config, environ={}))
    message = str(caught.value)
    assert message.startswith(f"{key} is written in {config}, which is readable by every")
    assert INLINE not in message and "\n" not in message
    # The fix: the environment, or a file only the service's group may read.
    env_key = "CALLBACK_DESK_" + key.replace("[", "").replace("] ", "_").upper()
    assert env_key in message or "secret_file" in message
    # The same file kept private (0640, as the install guide writes it) may hold it ...
    config.chmod(0o640)
    _load_section(section, Settings.load(config, environ={}))
    # ... and the environment never counts as the file.
    config.write_text("\n".join(line for line in text.splitlines() if INLINE not in line))
    config.chmod(0o644)
    _load_section(section, Settings.load(config, environ={env_key: text.split('"')[-2]}))


@pytest.mark.parametrize(
    ("mode", "refused"),
    [
        (0o600, None),
        (0o660, "is writable by group"),
        (0o640, "is readable by group"),  # libpq and asyncpg would skip it
        (0o644, "is readable by every local user"),
    ],
)
@pytest.mark.parametrize("named_by", ["dsn", "PGPASSFILE"])
def test_a_database_password_file_others_may_read_or_change_is_refused(
    tmp_path: Path, mode: int, refused: str | None, named_by: str
) -> None:
    passfile = tmp_path / "pgpass"
    passfile.write_text(f"db:5432:cbd:cbd:{INLINE}\n")
    passfile.chmod(mode)
    dsn, environ = "postgresql://cbd@db/cbd", {}
    if named_by == "dsn":
        dsn += f"?passfile={passfile}"
    else:
        environ = {"PGPASSFILE": str(passfile)}
    config = write(tmp_path, f'[database]\ndsn = "{dsn}"\n')
    if refused is None:
        Settings.load(config, environ=environ)
        return
    with pytest.raises(ConfigError) as caught:
        Settings.load(config, environ=environ)
    message = str(caught.value)
    assert message.startswith(f"[database] dsn: password file {str(passfile)!r} {refused}")
    assert "chmod 0600" in message and INLINE not in message


@pytest.mark.parametrize("reader", ["web", "agi", "database"])
def test_every_secret_file_writable_by_its_group_is_refused_at_start_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], reader: str
) -> None:
    """One 0660 file per kind of secret file the program reads: the inbox's signing key, the
    FastAGI secret, a database password file. Each start refuses it: one line, exit 2."""
    key = tmp_path / "key"
    key.write_text("ab" * 32 + "\n")
    key.chmod(0o660)
    text = {
        "web": BARE + f'[web]\nsecret_file = "{key}"\n',
        "agi": BARE + f'[agi]\nsecret_file = "{key}"\n',
        "database": f'[database]\ndsn = "postgresql://cbd@db/cbd?passfile={key}"\n',
    }[reader]
    config = write(tmp_path, text)
    command = {"web": ["web"], "agi": ["agi", "serve"], "database": ["report"]}[reader]
    assert main([*command, "--config", str(config)]) == 2
    err = capsys.readouterr().err.strip()
    assert "is writable by group" in err and str(key) in err
    assert err.count("\n") == 0 and "Traceback" not in err
