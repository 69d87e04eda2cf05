"""agi.login: the classic AGI logs in before its settings are checked, to the address their
snapshot names, and the session takes that login only if the checked settings name it too."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from agi import login
from callback_desk.core.config import Settings
from callback_desk.core.exceptions import ConfigError

# Nothing listens there: the login fails at once, and no test needs a database.
DSN = "postgresql://desk@127.0.0.1:1/callbacks?sslmode=disable"


def config(tmp_path: Path, text: str, *, snapshot: bool = True) -> str:
    path = tmp_path / "callback-desk.toml"
    path.write_text(text)
    path.chmod(0o600)
    if snapshot:
        try:
            Settings.load(path, environ={}, keep_snapshot=True)
        except ConfigError:
            pass  # the snapshot is of the file, checked or not: the session checks it
    return str(path)


def test_no_snapshot_no_early_login(tmp_path: Path) -> None:
    path = config(tmp_path, f'[database]\ndsn = "{DSN}"\n', snapshot=False)
    assert login.start(path, {}) is None


def test_the_login_is_taken_when_the_checked_settings_name_it(tmp_path: Path) -> None:
    path = config(tmp_path, f'[database]\ndsn = "{DSN}"\n[agi]\ndb_timeout = 2.5\n')
    early = login.start(path, {})
    assert early is not None
    connecting = early.take(DSN, 2.5)
    assert connecting is not None
    with pytest.raises(OSError):
        connecting.result()  # the login itself: nothing listens
    assert early.take(DSN, 2.5) is None  # taken once


@pytest.mark.parametrize(
    ("dsn", "timeout"),
    [(DSN.replace("desk@", "other@"), 3.0), (DSN, 2.0)],
    ids=["another DSN", "another timeout"],
)
def test_a_login_the_checked_settings_do_not_name_is_dropped(
    tmp_path: Path, dsn: str, timeout: float
) -> None:
    path = config(tmp_path, f'[database]\ndsn = "{DSN}"\n')
    early = login.start(path, {})
    assert early is not None
    assert early.take(dsn, timeout) is None
    early.drop()  # nothing left to drop


def test_the_environment_comes_first_as_for_the_settings(tmp_path: Path) -> None:
    path = config(tmp_path, '[database]\ndsn = "postgresql://file@127.0.0.1:1/x"\n')
    environ = {"CALLBACK_DESK_DATABASE_DSN": DSN, "CALLBACK_DESK_AGI_DB_TIMEOUT": "1.5"}
    early = login.start(path, environ)
    assert early is not None
    settings = Settings.load(Path(path), environ=environ)
    assert settings.database.dsn.reveal() == DSN
    assert early.take(DSN, 1.5) is not None


@pytest.mark.parametrize(
    "text",
    [
        '[database]\ndsn = "postgresql://u@h/d?sslrootcert=/ca.pem"\n',  # asyncpg's
        "[database]\ndsn = 5\n",
        f'[database]\ndsn = "{DSN}"\n[agi]\ndb_timeout = "soon"\n',
        f'[database]\ndsn = "{DSN}"\n[agi]\ndb_timeout = true\n',
        f'[database]\ndsn = "{DSN}"\n[agi]\ndb_timeout = -1\n',
    ],
)
def test_what_the_small_client_or_the_checks_would_refuse_starts_no_login(
    tmp_path: Path, text: str
) -> None:
    assert login.start(config(tmp_path, text), {}) is None


def test_the_config_path_is_found_as_the_settings_find_it(tmp_path: Path) -> None:
    path = config(tmp_path, f'[database]\ndsn = "{DSN}"\n')
    early = login.start(None, {"CALLBACK_DESK_CONFIG": path})
    assert early is not None
    early.drop()
    assert os.path.exists(path + ".snapshot")
