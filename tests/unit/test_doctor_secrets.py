"""The doctor's verdict on each secret file: readable by its readers only, never writable by
others (exit 2). The installed layout passes (tests/db/test_installer.py installs it)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path, PurePosixPath

import pytest

from callback_desk.core import layout
from callback_desk.core.accounts import Accounts
from callback_desk.doctor.secrets import judge

ACCOUNTS = Accounts(
    users={
        "root": (0, 0),
        "asterisk": (105, 111),
        "cbd-agi": (201, 201),
        "cbd-web": (202, 202),
        "cbd-report": (203, 203),
        "nobody": (65534, 65534),
    },
    groups={
        "root": (0, ()),
        "asterisk": (111, ()),
        "cbd-agi": (201, ()),
        "cbd-web": (202, ()),
        "cbd-report": (203, ()),
        "cbd-web-key": (300, ("cbd-web", "cbd-report")),
        "callback-desk": (301, ("cbd-agi", "cbd-web", "cbd-report", "asterisk")),
    },
)
SPECS = {s.path.name: s for s in layout.secret_files()}
WEB, AGI = SPECS["web.secret"], SPECS["agi-secret"]


def stat_of(mode: int, uid: int, gid: int) -> os.stat_result:
    return os.stat_result((0o100000 | mode, 0, 0, 1, uid, gid, 0, 0, 0, 0))


def verdict(spec: layout.SecretFile, mode: int, uid: int, gid: int):
    return judge(spec, Path(spec.path), stat_of(mode, uid, gid), ACCOUNTS)


def test_the_installed_modes_pass() -> None:
    assert verdict(WEB, 0o440, 0, 300).ok
    assert verdict(AGI, 0o440, 105, 201).ok


def test_the_issues_layout_is_caught_the_signing_key_readable_through_a_shared_group() -> None:
    # web.secret 0640 group callback-desk, which asterisk had joined (README step 8, before).
    found = verdict(WEB, 0o640, 0, 301)
    assert not found.ok and not found.refuse
    assert (
        "readable by asterisk (group callback-desk), cbd-agi (group callback-desk)" in found.detail
    )
    assert found.fix == f"chown root:cbd-web-key {WEB.path} && chmod 0440 {WEB.path}"


def test_a_member_who_should_not_be_there_is_named_with_the_command_that_removes_it() -> None:
    accounts = Accounts(ACCOUNTS.users, {**ACCOUNTS.groups, "cbd-web-key": (300, ("cbd-web",
                                         "cbd-report", "asterisk"))})  # fmt: skip
    found = judge(WEB, Path(WEB.path), stat_of(0o440, 0, 300), accounts)
    assert "readable by asterisk (group cbd-web-key)" in found.detail
    assert found.fix == "gpasswd -d asterisk cbd-web-key"


@pytest.mark.parametrize(
    ("mode", "words"), [(0o460, "is writable by group"), (0o442, "is writable by every local user")]
)
def test_a_secret_others_may_write_is_refused(mode: int, words: str) -> None:
    found = verdict(WEB, mode, 0, 300)
    assert found.refuse and words in found.detail


def test_world_readable_and_unreadable_are_both_wrong() -> None:
    found = verdict(AGI, 0o444, 105, 201)
    assert not found.ok and not found.refuse and "readable by every local user" in found.detail
    found = verdict(AGI, 0o400, 105, 201)
    assert not found.ok and "cbd-agi cannot read it" in found.detail


@pytest.mark.skipif(os.geteuid() != 0, reason="makes files of other owners")
def test_doctor_exits_2_on_a_group_writable_secret(tmp_path: Path) -> None:
    secret = tmp_path / "agi-secret"
    secret.write_text("ab" * 32 + "\n")
    secret.chmod(0o460)
    config = tmp_path / "cbd.toml"
    config.write_text(
        '[database]\ndsn = "postgresql://u@127.0.0.1:9/x"\nconnect_timeout = 1\n'
        f'[agi]\nsecret_file = "{secret}"\n'
    )
    config.chmod(0o640)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLBACK_DESK_")}
    proc = subprocess.run(
        [sys.executable, "-m", "callback_desk.cli", "doctor", "--config", str(config),
         "--env-file", str(tmp_path / "listener.env"), "--timeout", "1"],
        capture_output=True, text=True, timeout=120, env=env,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert f"✗ secret agi-secret: {secret} (root:" in proc.stdout
    assert "is writable by group" in proc.stdout
    assert PurePosixPath(str(secret)).name == "agi-secret"
