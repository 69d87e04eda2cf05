"""The settings file's tables, kept beside it parsed: ``callback-desk.toml.snapshot``.

A process started per call (the classic AGI, at every ``*47``) would otherwise parse TOML each
time: :mod:`tomllib` compiles its regexes when it is imported, and with the parse that was 4-9
ms of the desk's wait on the bench's host (``python -X importtime -m agi``). The snapshot is the
tables :mod:`tomllib` returned, in :mod:`marshal` (built into the interpreter: nothing to
import), with the exact bytes of the file they came from. It is used only when

- the file holds exactly those bytes now: an edited file is parsed afresh, so a snapshot can be
  old but never wrong (the settings are those of the file, always);
- it belongs to the file's owner and nobody else may write it: it is trusted as the file is.

Any loader reads it; these write it, when the process is the file's owner: the classic AGI
(``python -m agi``, where the warm-up of a test or a benchmark run keeps it), the
``callback-desk`` commands (the morning report is a process a morning that people wait for) and
``callback-desk doctor`` (run as root after an edit, on an install where Asterisk's AGI may read
but not write ``/etc/callback-desk``). It has no more rights than the file. Writing is best
effort: a directory the process may not write in, or settings marshal cannot keep (a TOML date),
leave no snapshot, and the file is parsed each time, with the same result.

Which file, and the environment names that override its keys, are here too (re-exported by
:mod:`callback_desk.core.config`): this module imports nothing else, so the classic AGI can
read its database's address from the snapshot before the settings are checked.
"""

from __future__ import annotations

import marshal
import os
import stat
from collections.abc import Mapping

from callback_desk.core.typeshim import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Any

DEFAULT_PATH = "/etc/callback-desk/callback-desk.toml"
ENV_PREFIX = "CALLBACK_DESK_"
SUFFIX = ".snapshot"
# Changes when what the snapshot holds changes; an older one is then parsed afresh.
_MAGIC = "callback-desk settings snapshot 1"


def env_name(section: str, key: str) -> str:
    """The environment variable that overrides ``[section] key``."""
    return f"{ENV_PREFIX}{section}_{key}".upper().replace("-", "_").replace(".", "_")


def env_first(
    table: Mapping[str, Any],
    environ: Mapping[str, str],
    section: str,
    key: str,
    missing: Any = None,
) -> tuple[Any, bool]:
    """``[section] key``: the environment's value, else the table's (``missing`` when neither
    has it); and whether it came from the environment."""
    env = environ.get(env_name(section, key))
    if env is not None:
        return env, True
    return table.get(key, missing), False


def locate(path: str | None, environ: Mapping[str, str]) -> tuple[str, bool]:
    """The settings file: ``path``, else ``$CALLBACK_DESK_CONFIG``, else the default; and
    whether it was asked for (a missing default file is no error)."""
    env_path = environ.get(f"{ENV_PREFIX}CONFIG")
    where = path if path is not None else (env_path or DEFAULT_PATH)
    return where, path is not None or env_path is not None


def tables_of(config: str) -> dict[str, Any] | None:
    """The file's tables from a snapshot that matches it now, or None (no snapshot, an old one,
    the file unreadable: the caller parses and checks the file as usual)."""
    try:
        with open(config, "rb") as fh:
            raw = fh.read()
            st = os.fstat(fh.fileno())
    except OSError:
        return None
    return read(config, raw, st)


def path_for(config: str | os.PathLike[str]) -> str:
    return os.fspath(config) + SUFFIX


def read(config: str | os.PathLike[str], raw: bytes, st: os.stat_result) -> dict[str, Any] | None:
    """The tables of ``raw`` (the file's bytes now; ``st`` its status) from the snapshot, or
    None when there is none to trust."""
    try:
        fd = os.open(path_for(config), os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return None
    try:
        with os.fdopen(fd, "rb") as fh:
            own = os.fstat(fh.fileno())
            if (
                own.st_uid != st.st_uid
                or own.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
                or not stat.S_ISREG(own.st_mode)
            ):
                return None
            kept = marshal.loads(fh.read())
    except (OSError, EOFError, ValueError, TypeError):
        return None
    if (
        isinstance(kept, tuple)
        and len(kept) == 3
        and kept[0] == _MAGIC
        and kept[1] == raw
        and isinstance(kept[2], dict)
    ):
        return kept[2]
    return None


def write(
    config: str | os.PathLike[str], raw: bytes, st: os.stat_result, tables: Mapping[str, Any]
) -> None:
    """Keep ``tables`` (parsed from ``raw``) beside the file, when this process is the file's
    owner; silently nothing otherwise (see the module docstring). Not for a file that is not
    a regular one (``/dev/null`` as an empty config): there is nothing to parse."""
    if os.geteuid() != st.st_uid or not stat.S_ISREG(st.st_mode):
        return
    try:
        data = marshal.dumps((_MAGIC, raw, dict(tables)))
    except ValueError:  # a value marshal cannot keep (a TOML date or time)
        return
    final = path_for(config)
    temporary = f"{final}.{os.getpid()}"
    # The file's rights, never more: group read at most, nobody else (it holds what it holds).
    mode = stat.S_IMODE(st.st_mode) & 0o640
    try:
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
    except OSError:
        return
    try:
        with os.fdopen(fd, "wb") as fh:
            if st.st_gid != os.fstat(fh.fileno()).st_gid:
                os.fchown(fh.fileno(), -1, st.st_gid)
            os.fchmod(fh.fileno(), mode)  # whatever the umask took away
            fh.write(data)
        os.replace(temporary, final)
    except OSError:
        discard(temporary)


def discard(path: str | os.PathLike[str]) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
