"""The demo's own PostgreSQL: the server programs pgserver bundles, started and stopped here.

pgserver's own start-up (``pgserver.get_server``) is not used: run as root, it adds a system
account (``useradd pgserver``, left in /etc/passwd), opens every parent directory of its data
and of its programs to all users (``chmod o+rx`` up to /) and leaves its socket directory
world-writable. The demo promises to leave nothing behind, so it runs the same programs itself:
``initdb`` and ``pg_ctl`` on a private temporary directory, listening on a Unix socket in that
directory only (no TCP port; trust authentication is then reachable by its owner alone). As
root it runs them as an existing unprivileged account (PostgreSQL refuses to run as root) and
says so; when that account cannot reach the programs where they are installed (a venv under
/root), it runs a copy of them inside the demo's directory.
"""

from __future__ import annotations

import importlib.util
import os
import pwd
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from callback_desk.core.exceptions import ConfigError, DemoError

# The account PostgreSQL runs as when the demo runs as root: present on every Linux system,
# owns nothing, and the demo creates no account of its own.
UNPRIVILEGED_USER = "nobody"
# sun_path holds 108 bytes with the terminating NUL.
MAX_SOCKET_PATH = 107
SOCKET_NAME = ".s.PGSQL.5432"
_TIMEOUT = 60


def programs() -> Path:
    """The directory of pgserver's bundled server programs (``initdb``, ``pg_ctl``...).

    Found without importing pgserver: its import creates a runtime directory and a lock file.
    """
    spec = importlib.util.find_spec("pgserver")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(
            "the demo's embedded PostgreSQL is not installed: pip install 'callback-desk[demo]' "
            "(or give a server with --dsn postgresql://...)"
        )
    for location in spec.submodule_search_locations:
        found = Path(location) / "pginstall"
        if (found / "bin" / "pg_ctl").is_file():
            return found
    raise ConfigError("pgserver is installed but carries no PostgreSQL programs (pginstall/bin)")


@dataclass(frozen=True)
class Embedded:
    """A running PostgreSQL in ``directory`` (data in ``pgdata``, socket in ``directory``)."""

    directory: Path
    install: Path
    user: str | None  # the account it runs as; None: the current one

    @property
    def pgdata(self) -> Path:
        return self.directory / "pgdata"

    @property
    def dsn(self) -> str:
        return f"postgresql://postgres@/postgres?host={self.directory}"

    @property
    def pid(self) -> int:
        return int((self.pgdata / "postmaster.pid").read_text("ascii").split("\n", 1)[0])

    def stop(self) -> None:
        _run(self, "pg_ctl", "-D", str(self.pgdata), "-w", "-m", "fast", "stop")


def start(directory: Path) -> Embedded:
    """initdb and start a server in ``directory`` (empty, private, made by the caller)."""
    install = programs()
    socket = directory / SOCKET_NAME
    if len(os.fsencode(socket)) > MAX_SOCKET_PATH:
        raise DemoError(
            f"the temporary directory {directory.parent} is too deep for PostgreSQL's socket "
            f"path ({len(os.fsencode(socket))} > {MAX_SOCKET_PATH} bytes): set TMPDIR=/tmp"
        )
    user = None
    if os.geteuid() == 0:
        user = UNPRIVILEGED_USER
        account = pwd.getpwnam(user)
        os.chown(directory, account.pw_uid, account.pw_gid)
        if not _runs(["/bin/sh", "-c", ":"], user, directory):
            raise DemoError(
                f"user {user} (who runs the embedded PostgreSQL when the demo runs as root) "
                f"cannot enter {directory.parent}: set TMPDIR=/tmp, or give --dsn"
            )
        if not _runs([str(install / "bin" / "pg_ctl"), "--version"], user, directory):
            install = _copy(install, directory / "pginstall")
    server = Embedded(directory, install, user)
    _run(
        server, "initdb", "-D", str(server.pgdata), "-U", "postgres", "--auth=trust",
        "--encoding=UTF8", "--no-locale", "--no-sync",
    )  # fmt: skip
    _run(
        server, "pg_ctl", "-D", str(server.pgdata), "-w", "-l", str(directory / "postgres.log"),
        # No TCP listener; the socket in the demo's own directory.
        "-o", "-h '' -k " + str(directory), "start",
    )  # fmt: skip
    return server


def _run(server: Embedded, program: str, *args: str) -> None:
    try:
        subprocess.run(
            [str(server.install / "bin" / program), *args],
            user=server.user,
            # The unprivileged account may not enter the caller's working directory.
            cwd=server.directory,
            check=True,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=_TIMEOUT,
        )
    except subprocess.CalledProcessError as exc:
        last = (exc.stderr or exc.stdout or "").strip().splitlines()[-1:] or ["no output"]
        raise DemoError(f"the embedded PostgreSQL's {program} failed: {last[0]}") from exc
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise DemoError(f"the embedded PostgreSQL's {program} did not run: {exc}") from exc


def _runs(argv: list[str], user: str, cwd: Path) -> bool:
    """Whether ``user`` can enter ``cwd`` and run ``argv`` there."""
    try:
        done = subprocess.run(
            argv,
            user=user,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=_TIMEOUT,
        )
    except OSError:  # chdir or exec refused: a parent directory is private
        return False
    return done.returncode == 0


def _copy(install: Path, to: Path) -> Path:
    # The programs, their libraries and their share/ (timezones, initdb's templates); the
    # headers are not needed to run a server.
    shutil.copytree(install, to, symlinks=True, ignore=shutil.ignore_patterns("include"))
    return to
