"""The settings file's parsed snapshot (callback_desk.core.snapshot): the same settings as the
file, always; trusted only as far as the file is."""

from __future__ import annotations

import marshal
import os
import subprocess
import sys
import tomllib
from datetime import date
from pathlib import Path

import pytest

from callback_desk.core import snapshot
from callback_desk.core.config import Settings
from callback_desk.core.exceptions import ConfigError

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "deploy" / "callback-desk.toml.sample"
GOOD = """
[database]
dsn = "postgresql://cbd@db/cbd"

[pbx]
name = "main-office"
timezone = "Europe/Berlin"

[agi]
callback_number = "+12125550100"

[agi.names]
"100" = "Robin"
"""


def config(tmp_path: Path, text: str, mode: int = 0o640) -> Path:
    path = tmp_path / "callback-desk.toml"
    path.write_text(text, "utf-8")
    path.chmod(mode)
    return path


def kept(path: Path) -> dict[str, object] | None:
    return snapshot.read(path, path.read_bytes(), path.stat())


@pytest.mark.parametrize("text", [GOOD, SAMPLE.read_text("utf-8")], ids=["small", "sample"])
def test_a_snapshot_holds_exactly_what_the_file_parses_to(tmp_path: Path, text: str) -> None:
    path = config(tmp_path, text)
    first = Settings.load(path, environ={}, keep_snapshot=True)
    assert kept(path) == tomllib.loads(text)
    again = Settings.load(path, environ={})  # from the snapshot
    assert again == first
    assert again.section("agi").table("names") == first.section("agi").table("names")


def test_an_edited_file_is_read_afresh_and_its_snapshot_replaced(tmp_path: Path) -> None:
    path = config(tmp_path, GOOD)
    Settings.load(path, environ={}, keep_snapshot=True)
    path.write_text(GOOD.replace("main-office", "branch"), "utf-8")
    assert kept(path) is None  # old: not used
    assert Settings.load(path, environ={}).pbx.name == "branch"
    Settings.load(path, environ={}, keep_snapshot=True)
    assert kept(path) == tomllib.loads(GOOD.replace("main-office", "branch"))


def test_without_keep_snapshot_no_snapshot_is_written(tmp_path: Path) -> None:
    path = config(tmp_path, GOOD)
    Settings.load(path, environ={})
    assert not Path(snapshot.path_for(path)).exists()


def test_a_config_that_is_not_a_regular_file_keeps_no_snapshot(tmp_path: Path) -> None:
    # /dev/null as an empty config: no snapshot beside it (in /dev). A FIFO stands for it here.
    fifo = tmp_path / "callback-desk.toml"
    os.mkfifo(fifo)
    snapshot.write(fifo, b"", os.stat(fifo), {})
    assert not Path(snapshot.path_for(fifo)).exists()


def test_a_snapshot_others_may_write_is_not_trusted(tmp_path: Path) -> None:
    path = config(tmp_path, GOOD)
    # Forged: the file's very bytes, other tables, in a snapshot its group may write.
    forged = Path(snapshot.path_for(path))
    forged.write_bytes(marshal.dumps((snapshot._MAGIC, path.read_bytes(), {"pbx": {"name": "x"}})))
    forged.chmod(0o620)
    assert kept(path) is None
    assert Settings.load(path, environ={}).pbx.name == "main-office"
    forged.chmod(0o600)
    assert kept(path) == {"pbx": {"name": "x"}}  # the check above is what refused it


@pytest.mark.skipif(os.geteuid() != 0, reason="making a file another user's needs root")
def test_a_snapshot_of_another_owner_is_not_trusted(tmp_path: Path) -> None:
    path = config(tmp_path, GOOD)
    Settings.load(path, environ={}, keep_snapshot=True)
    os.chown(snapshot.path_for(path), 65534, -1)
    assert kept(path) is None


@pytest.mark.skipif(os.geteuid() != 0, reason="making a file another user's needs root")
def test_a_process_that_does_not_own_the_file_writes_no_snapshot(tmp_path: Path) -> None:
    path = config(tmp_path, GOOD)
    os.chown(path, 65534, -1)
    Settings.load(path, environ={}, keep_snapshot=True)
    assert not Path(snapshot.path_for(path)).exists()


@pytest.mark.parametrize("junk", [b"", b"\x00garbage", marshal.dumps(("other", b"", {}))])
def test_a_damaged_snapshot_is_ignored_and_replaced(tmp_path: Path, junk: bytes) -> None:
    path = config(tmp_path, GOOD)
    Path(snapshot.path_for(path)).write_bytes(junk)
    os.chmod(snapshot.path_for(path), 0o600)
    assert Settings.load(path, environ={}, keep_snapshot=True).pbx.name == "main-office"
    assert kept(path) == tomllib.loads(GOOD)


@pytest.mark.parametrize(("mode", "expected"), [(0o600, 0o600), (0o640, 0o640), (0o644, 0o640)])
def test_the_snapshot_has_no_more_rights_than_the_file(
    tmp_path: Path, mode: int, expected: int
) -> None:
    path = config(tmp_path, GOOD, mode)
    Settings.load(path, environ={}, keep_snapshot=True)
    assert os.stat(snapshot.path_for(path)).st_mode & 0o777 == expected


def test_tables_marshal_cannot_keep_leave_no_snapshot(tmp_path: Path) -> None:
    path = config(tmp_path, GOOD)
    snapshot.write(path, path.read_bytes(), path.stat(), {"x": {"when": date(2026, 1, 1)}})
    assert not Path(snapshot.path_for(path)).exists()
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # nor a temporary file


def test_a_file_that_is_not_toml_is_one_line_and_keeps_no_snapshot(tmp_path: Path) -> None:
    path = config(tmp_path, "[database\n")
    with pytest.raises(ConfigError, match="is not valid TOML"):
        Settings.load(path, environ={}, keep_snapshot=True)
    assert not Path(snapshot.path_for(path)).exists()


def test_the_classic_agi_keeps_a_snapshot_and_then_reads_no_toml(tmp_path: Path) -> None:
    # Its configuration error path (no database) is enough: the settings are read first.
    path = config(tmp_path, GOOD.replace('dsn = "postgresql://cbd@db/cbd"', ""))
    probe = "import runpy, sys; sys.argv = ['agi', '--config', sys.argv[1]]\n" + (
        "try:\n    runpy.run_module('agi', run_name='__main__')\nexcept SystemExit as e:\n"
        "    print(e.code, 'tomllib' in sys.modules)"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLBACK_DESK_")}

    def run() -> str:
        return subprocess.run(
            [sys.executable, "-c", probe, str(path)],
            capture_output=True,
            text=True,
            cwd=ROOT,
            env=env,
            check=True,
            timeout=60,
        ).stdout.strip()

    assert run() == "2 True"  # parsed, and kept
    assert run() == "2 False"  # from the snapshot
    path.write_text(path.read_text() + "\n", "utf-8")  # an edit: parsed again
    assert run() == "2 True"
