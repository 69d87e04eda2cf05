"""The install, as far as a machine without a PBX allows: build the wheel, install it into a
fresh venv outside the source tree, and run ``migrate``, ``report`` and ``demo`` from there.

The new venv gets the wheel itself (no source tree on its path: checked) and borrows the
dependencies of the test venv through a .pth line, so that the test needs no network; the
editable install of the test venv is not visible there (a .pth line adds a directory, it does
not process that directory's own .pth files).
"""

from __future__ import annotations

import os
import shutil
import site
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from callback_desk import __version__

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    """(the venv's bin directory, the wheel)."""
    tmp = tmp_path_factory.mktemp("install")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
         "-w", str(tmp / "dist"), str(ROOT)],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    [wheel] = (tmp / "dist").glob("callback_desk-*.whl")
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install", "-q",
         "--no-deps", str(wheel)],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    [purelib] = (venv / "lib").glob("python3*/site-packages")
    (purelib / "zz_test_dependencies.pth").write_text(site.getsitepackages()[0] + "\n")
    yield venv / "bin", wheel


def cli(bin_dir: Path, cwd: Path, *argv: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("CALLBACK_DESK_", "PYTHON"))}
    return subprocess.run(
        [str(bin_dir / "callback-desk"), *argv],
        cwd=cwd,
        env={**clean, "CALLBACK_DESK_CONFIG": "/dev/null", **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_wheel_carries_migrations_demo_data_and_license(installed) -> None:
    _bin, wheel = installed
    names = zipfile.ZipFile(wheel).namelist()
    assert "callback_desk/sql/0001_calls.sql" in names
    assert "callback_desk/demo/data/queue_abandon.ami" in names
    assert any(n.endswith("licenses/LICENSE") for n in names)
    assert wheel.name.startswith(f"callback_desk-{__version__}-")
    assert not any(n.startswith("tests/") for n in names)


def test_the_wheel_prints_every_sample_the_docs_and_doctor_name(installed, tmp_path) -> None:
    bin_dir, wheel = installed
    names = zipfile.ZipFile(wheel).namelist()
    shipped = {
        "manager.conf": ROOT / "manager.conf.sample",
        "extensions.conf": ROOT / "extensions.conf.sample",
        **{p.name.removesuffix(".sample"): p for p in (ROOT / "deploy").iterdir()},
    }
    assert "callback_desk/samples/deploy/callback-desk-listener.service" in names
    listed = cli(bin_dir, tmp_path, "sample")
    assert listed.returncode == 0 and listed.stdout.split() == sorted(shipped)
    for name, source in shipped.items():
        printed = cli(bin_dir, tmp_path, "sample", name)
        assert printed.returncode == 0, printed.stderr
        assert printed.stdout == source.read_text("utf-8"), name
    wrong = cli(bin_dir, tmp_path, "sample", "manager.conf.sample")
    assert wrong.returncode == 2 and "there are: callback-desk-agi.service" in wrong.stderr


def test_the_installed_program_is_the_wheel_not_the_source_tree(installed, tmp_path) -> None:
    bin_dir, _wheel = installed
    where = subprocess.run(
        [str(bin_dir / "python"), "-c", "import callback_desk, agi, ami_listener; "
         "print(callback_desk.__file__, agi.__file__, ami_listener.__file__)"],
        cwd=tmp_path, capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    assert all(str(bin_dir.parent) in path for path in where), where
    version = cli(bin_dir, tmp_path, "--version")
    assert version.stdout == f"callback-desk {__version__}\n"


def test_migrate_then_report_from_the_wheel(installed, empty_db_dsn, tmp_path) -> None:
    bin_dir, _wheel = installed
    migrate = cli(bin_dir, tmp_path, "migrate", CALLBACK_DESK_DATABASE_DSN=empty_db_dsn)
    assert migrate.returncode == 0, migrate.stderr
    assert "applied 0001_calls" in migrate.stdout
    report = cli(
        bin_dir, tmp_path, "report", "--format", "json", CALLBACK_DESK_DATABASE_DSN=empty_db_dsn
    )
    assert report.returncode == 0, report.stderr
    assert report.stdout.startswith("{")


def test_demo_from_the_wheel_leaves_nothing_behind(installed, tmp_path) -> None:
    bin_dir, _wheel = installed
    # A short TMPDIR of its own: PostgreSQL's socket path must stay under 108 bytes.
    scratch = Path(tempfile.mkdtemp(prefix="cbd-", dir="/tmp"))
    # As /tmp is: as root the embedded PostgreSQL runs as nobody, who must pass through it.
    scratch.chmod(0o711)
    try:
        _run_demo(bin_dir, tmp_path, scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _run_demo(bin_dir: Path, tmp_path: Path, scratch: Path) -> None:
    demo = cli(bin_dir, tmp_path, "demo", TMPDIR=str(scratch))
    assert demo.returncode == 0, demo.stderr
    assert "callers to call back" in demo.stdout
    assert "There are currently four callers waiting" in demo.stdout
    assert "[Call from my desk phone]  [Handled]  [Never call back]" in demo.stdout
    assert "nothing left running or on disk" in demo.stdout
    assert list(scratch.iterdir()) == []
    running = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    assert str(scratch) not in running
